"""A stage's matrix: one shard per combination of its axes' values.

Shard n takes the n-th combination in the order of itertools.product (the first axis
varies slowest), so a shard's combination is a pure function of the spec: a retry, a
replay and the Web UI agree on it. Each shard gets OTTO_MATRIX_<NAME> (the axis name
upper-cased) in its environment, and `ottoscaler.io/matrix-<name>` labels whose values
are made valid Kubernetes label values (workflows.workers.naming.safe_label_value: kept
as they are when they fit, else sanitised, cut and ended with a hash).

Limits, checked at submit (INVALID_ARGUMENT naming the field and the limit): at most
MAX_AXES axes; a name matches NAME_PATTERN and no two differ only in case (`os` and `OS`
would name one variable); each axis has 1..MAX_VALUES_PER_AXIS values, unique, non-empty,
at most MAX_VALUE_CHARS each, no NUL; and the product fits MAX_WORKERS_PER_TASK.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from workflows.base.checks import Limits, SpecError, check_text
from workflows.base.model import Frozen
from workflows.workers.naming import safe_label_value

MAX_AXES = 8
MAX_VALUES_PER_AXIS = 256
MAX_VALUE_CHARS = 256
# An environment variable's tail and a label key's name part alike.
NAME_PATTERN = re.compile(r"[A-Za-z]([A-Za-z0-9_]{0,30}[A-Za-z0-9])?")
ENV_PREFIX = "OTTO_MATRIX_"
# Every shard's whole matrix, as JSON: what the gateway signs for the stage, and what the
# activities check a shard's own OTTO_MATRIX_* values and labels against (the signature
# leaves those out: they differ from shard to shard).
MATRIX_ENV = "OTTO_MATRIX"
LABEL_PREFIX = "ottoscaler.io/matrix-"
# What the Web UI's stage list shows of a stage's axes, at most.
_DESCRIBE_CHARS = 120


class MatrixAxis(Frozen):
    name: str
    values: tuple[str, ...]


Combination = tuple[tuple[str, str], ...]  # (axis name, value) in axis order


def combination_count(axes: Sequence[MatrixAxis]) -> int:
    count = 1
    for axis in axes:
        count *= len(axis.values)
    return count


def combination(axes: Sequence[MatrixAxis], shard: int) -> Combination:
    """The shard's combination: shard read as a number whose last digit is the last axis."""
    picked: list[tuple[str, str]] = []
    for axis in reversed(axes):
        shard, index = divmod(shard, len(axis.values))
        picked.append((axis.name, axis.values[index]))
    return tuple(reversed(picked))


def matrix_env(combo: Combination) -> dict[str, str]:
    return {f"{ENV_PREFIX}{name.upper()}": value for name, value in combo}


def matrix_labels(combo: Combination) -> dict[str, str]:
    return {f"{LABEL_PREFIX}{name}": safe_label_value(value) for name, value in combo}


def matrix_json(axes: Sequence[MatrixAxis]) -> str:
    """'[["os",["linux","mac"]]]': the axes in order, for MATRIX_ENV."""
    return json.dumps([[a.name, list(a.values)] for a in axes], separators=(",", ":"))


def is_own_combination(env: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a worker's OTTO_MATRIX_* variables and matrix labels are one combination of
    the matrix its MATRIX_ENV declares (none at all without one)."""
    shard_env = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX)}
    shard_labels = {k: v for k, v in labels.items() if k.startswith(LABEL_PREFIX)}
    declared = env.get(MATRIX_ENV)
    if declared is None:
        return not shard_env and not shard_labels
    try:
        axes = [MatrixAxis(name=n, values=tuple(values)) for n, values in json.loads(declared)]
    except (ValueError, TypeError):
        return False
    combo = tuple((a.name, env.get(f"{ENV_PREFIX}{a.name.upper()}", "")) for a in axes)
    return (
        all(value in axis.values for axis, (_, value) in zip(axes, combo, strict=True))
        and shard_env == matrix_env(combo)
        and shard_labels == matrix_labels(combo)
    )


def describe(combo: Combination) -> str:
    """'os=linux, python=3.12': the combination as summaries show it."""
    return ", ".join(f"{name}={value}" for name, value in combo)


def describe_axes(axes: Sequence[MatrixAxis]) -> str:
    """'matrix os x python (4)': the stage's axes, for the Web UI's stage list."""
    names = " x ".join(axis.name for axis in axes)
    text = f"matrix {names} ({combination_count(axes)})"
    return text if len(text) <= _DESCRIBE_CHARS else text[: _DESCRIBE_CHARS - 1] + "…"


def check_matrix(field: str, axes: Sequence[MatrixAxis], worker_count: int, limits: Limits) -> None:
    """The stage's axes (field: `stages[i]`), and its worker_count against their product."""
    if len(axes) > MAX_AXES:
        raise SpecError(f"{field}.matrix", f"has {len(axes)} axes, at most {MAX_AXES}")
    seen: dict[str, int] = {}
    for index, axis in enumerate(axes):
        at = f"{field}.matrix[{index}]"
        _check_name(f"{at}.name", axis.name)
        other = seen.setdefault(axis.name.upper(), index)
        if other != index:
            raise SpecError(
                f"{at}.name",
                f"{axis.name!r} and {field}.matrix[{other}].name {axes[other].name!r} both name "
                f"{ENV_PREFIX}{axis.name.upper()}; axis names must differ in more than case",
            )
        _check_values(f"{at}.values", axis.values)
    count = combination_count(axes)
    most = limits.max_workers_per_stage
    if count > most:
        raise SpecError(
            f"{field}.matrix",
            f"makes {count} combinations, at most {most} (MAX_WORKERS_PER_TASK)",
        )
    if worker_count != count:
        raise SpecError(
            f"{field}.worker_count",
            f"{worker_count} does not match the matrix's {count} combinations "
            f"(give 0, 1 or {count})",
        )


def _check_name(field: str, name: str) -> None:
    check_text(field, name)
    if not NAME_PATTERN.fullmatch(name):
        raise SpecError(
            field,
            f"{name[:40]!r} must match {NAME_PATTERN.pattern} (a letter first, at most 32 "
            "letters, digits and '_', not ending with '_')",
        )


def _check_values(field: str, values: Sequence[str]) -> None:
    if not values:
        raise SpecError(field, "must hold at least one value")
    if len(values) > MAX_VALUES_PER_AXIS:
        raise SpecError(field, f"has {len(values)} values, at most {MAX_VALUES_PER_AXIS}")
    seen: dict[str, int] = {}
    for index, value in enumerate(values):
        at = f"{field}[{index}]"
        check_text(at, value)
        if not value:
            raise SpecError(at, "is empty")
        if len(value) > MAX_VALUE_CHARS:
            raise SpecError(at, f"has {len(value)} characters, at most {MAX_VALUE_CHARS}")
        other = seen.setdefault(value, index)
        if other != index:
            raise SpecError(at, f"{value[:40]!r} repeats {field}[{other}]")
