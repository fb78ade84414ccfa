"""Go-style durations for the flags of the old tools: '10m', '30s', '1h30m', '250ms'."""

from __future__ import annotations

import argparse
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
DURATION_HELP = "a Go duration such as 30s, 10m or 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises argparse.ArgumentTypeError when malformed."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 10m, 30s or 1h30m")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)
