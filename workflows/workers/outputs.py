"""A worker's outputs: the `key=value` lines it writes to the file named by OTTO_OUTPUTS.

The runtime hands back the file's text (on Kubernetes the container's termination message,
which Kubernetes cuts to its last 4,096 bytes); run_worker parses it here, once, and the
parsed map travels in the activity's result. The limits keep that result, and every
history and progress page it reaches, small:

- the whole text at most MAX_WORKER_OUTPUTS_BYTES (below Kubernetes' 4,096, so a text it
  cut is told from one that fits);
- a key matches KEY_PATTERN (a CEL identifier and an environment variable's tail), at most
  MAX_KEY_CHARS, and no two keys of a worker may differ only in case (they would name one
  OTTO_OUTPUT_ variable);
- a value is the rest of its line (it may hold `=`), at most MAX_VALUE_BYTES, no NUL.

Empty lines and lines starting with `#` are ignored; a key written twice keeps its last
value, as a shell script appending to the file would expect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The environment variable that names the file; each runtime sets it as it creates a worker.
OUTPUTS_ENV = "OTTO_OUTPUTS"
MAX_WORKER_OUTPUTS_BYTES = 4000
MAX_KEY_CHARS = 64
MAX_VALUE_BYTES = 1024
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Why a shard failed when its outputs broke a rule: the same program would write them
# again, so the stage's retry policy never retries it.
INVALID_OUTPUTS = "InvalidOutputs"


class OutputsError(ValueError):
    """The worker's outputs break a rule; str() names the line and the limit."""


def parse_outputs(text: str) -> dict[str, str]:
    """The `key=value` lines of one worker, checked against the limits above."""
    if len(text.encode()) > MAX_WORKER_OUTPUTS_BYTES:
        raise OutputsError(
            f"OTTO_OUTPUTS holds more than {MAX_WORKER_OUTPUTS_BYTES} bytes, the limit "
            "(Kubernetes keeps only the last 4096 of a termination message)"
        )
    outputs: dict[str, str] = {}
    first_line: dict[str, tuple[str, int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        key, value = _split(number, line)
        other = first_line.setdefault(key.upper(), (key, number))
        if other[0] != key:
            raise OutputsError(
                f"OTTO_OUTPUTS line {number}: key {key!r} and {other[0]!r} on line {other[1]} "
                "differ only in case and would name one OTTO_OUTPUT_ variable"
            )
        outputs[key] = value
    return outputs


def _split(number: int, line: str) -> tuple[str, str]:
    at = f"OTTO_OUTPUTS line {number}"
    key, sep, value = line.partition("=")
    if not sep:
        raise OutputsError(f"{at}: {line[:40]!r} is not key=value")
    if len(key) > MAX_KEY_CHARS:
        raise OutputsError(f"{at}: key has {len(key)} characters, at most {MAX_KEY_CHARS}")
    if not KEY_PATTERN.fullmatch(key):
        raise OutputsError(
            f"{at}: key {key[:40]!r} must match {KEY_PATTERN.pattern} "
            f"(at most {MAX_KEY_CHARS} characters)"
        )
    if "\0" in value:
        raise OutputsError(f"{at}: the value of {key!r} contains a NUL character")
    size = len(value.encode())
    if size > MAX_VALUE_BYTES:
        raise OutputsError(
            f"{at}: the value of {key!r} has {size} bytes, at most {MAX_VALUE_BYTES}"
        )
    return key, value


def outputs_bytes(outputs: Mapping[str, str]) -> int:
    """What outputs weigh as `key=value` lines: the measure every limit uses."""
    return sum(len(f"{key}={value}\n".encode()) for key, value in outputs.items())
