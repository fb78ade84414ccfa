"""Field checks every request shares: each problem names the field and the limit.

The gateway runs them before anything starts (INVALID_ARGUMENT); workflows run them
again, since anyone with a Temporal client can start one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel

# A Kubernetes label value: ids end up in pod labels.
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_MAX_LABEL_VALUE = 63
# Texts that identify a request reach search attributes, summaries and workers'
# environments, and are kept in workflow state: each has a length limit.
MAX_TEXT = {
    "name": 256,
    "repository": 512,
    "commit_sha": 128,
    "triggered_by": 256,
    "reason": 1024,
    "request_id": 256,
}


class Limits(BaseModel):
    max_workers_per_stage: int = 50
    max_stages: int = 1000
    max_map_entries: int = 256
    max_map_value_bytes: int = 32 * 1024


class SpecError(ValueError):
    """A request field is invalid. str() is 'field: problem'."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_label_value(field: str, value: str) -> None:
    if not value:
        raise SpecError(field, "is required")
    if len(value) > _MAX_LABEL_VALUE or not _LABEL_VALUE.fullmatch(value):
        raise SpecError(
            field,
            f"{value!r} must be at most {_MAX_LABEL_VALUE} characters of letters, digits, "
            "'-', '_' or '.', starting and ending with a letter or digit",
        )


def check_text(field: str, value: str) -> None:
    """Text that reaches a process (argv, environment) cannot hold a NUL."""
    if "\0" in value:
        raise SpecError(field, "contains a NUL character")


def check_short_text(field: str, value: str, most: int) -> None:
    """No NUL, and at most `most` characters (MAX_TEXT has the limits of identity texts)."""
    check_text(field, value)
    if len(value) > most:
        raise SpecError(field, f"has {len(value)} characters, at most {most}")


def check_identity(texts: Mapping[str, str]) -> None:
    """Identity texts by their names in MAX_TEXT."""
    for field, value in texts.items():
        check_short_text(field, value, MAX_TEXT[field])


def check_range(field: str, value: float, low: float, high: float, unit: str = "") -> None:
    """A finite number within [low, high]; the message names the range."""
    if not low <= value <= high:  # also false for NaN
        raise SpecError(field, f"{_number(value)} is outside {_number(low)}..{_number(high)}{unit}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_map(field: str, values: Mapping[str, str], limits: Limits) -> None:
    if len(values) > limits.max_map_entries:
        raise SpecError(field, f"has {len(values)} entries, at most {limits.max_map_entries}")
    for key, value in values.items():
        if not key:
            raise SpecError(field, "has an empty key")
        check_text(f"{field} key {key!r}", key)
        check_text(f"{field}[{key!r}]", value)
        if len(value.encode()) > limits.max_map_value_bytes:
            raise SpecError(f"{field}[{key!r}]", f"is over {limits.max_map_value_bytes} bytes")
