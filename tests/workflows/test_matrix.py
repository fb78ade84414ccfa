"""Matrix stages: combinations in a fixed order, their env, labels and checks."""

from __future__ import annotations

import json

import pytest

from workflows.base.checks import Limits, SpecError
from workflows.pipeline.matrix import (
    MatrixAxis,
    check_matrix,
    combination,
    combination_count,
    describe,
    is_own_combination,
    matrix_env,
    matrix_json,
    matrix_labels,
)
from workflows.workers.naming import safe_label_value

AXES = (
    MatrixAxis(name="os", values=("linux", "mac")),
    MatrixAxis(name="python", values=("3.11", "3.12", "3.13")),
)


def test_one_shard_per_combination_the_first_axis_slowest() -> None:
    combos = [combination(AXES, n) for n in range(combination_count(AXES))]
    assert [describe(c) for c in combos] == [
        "os=linux, python=3.11",
        "os=linux, python=3.12",
        "os=linux, python=3.13",
        "os=mac, python=3.11",
        "os=mac, python=3.12",
        "os=mac, python=3.13",
    ]


def test_each_shard_gets_its_values_as_env_and_as_valid_labels() -> None:
    combo = (("os", "linux"), ("image", "registry.example.com/team/app:1.2 (beta)"))
    assert matrix_env(combo) == {
        "OTTO_MATRIX_OS": "linux",
        "OTTO_MATRIX_IMAGE": "registry.example.com/team/app:1.2 (beta)",
    }
    labels = matrix_labels(combo)
    assert labels["ottoscaler.io/matrix-os"] == "linux"
    # Not a label value as it is: sanitised and hashed, so two such values never meet.
    assert labels["ottoscaler.io/matrix-image"] == safe_label_value(combo[1][1])
    assert labels["ottoscaler.io/matrix-image"].startswith("registry.example.com-team-app-1.2")


def test_a_shard_must_be_one_combination_of_its_declared_matrix() -> None:
    combo = combination(AXES, 4)
    env = {"OTTO_MATRIX": matrix_json(AXES), **matrix_env(combo)}
    assert is_own_combination(env, matrix_labels(combo))
    forged = {**env, "OTTO_MATRIX_OS": "windows"}
    assert not is_own_combination(forged, matrix_labels(combo))
    assert not is_own_combination(env, {"ottoscaler.io/matrix-os": "linux"})
    assert not is_own_combination({"OTTO_MATRIX_OS": "linux"}, {})
    assert not is_own_combination({**env, "OTTO_MATRIX": "not json"}, matrix_labels(combo))
    assert is_own_combination({"A": "1"}, {})
    assert json.loads(env["OTTO_MATRIX"]) == [
        ["os", ["linux", "mac"]],
        ["python", list(AXES[1].values)],
    ]


def axes(*pairs: tuple[str, tuple[str, ...]]) -> tuple[MatrixAxis, ...]:
    return tuple(MatrixAxis(name=name, values=values) for name, values in pairs)


@pytest.mark.parametrize(
    ("matrix", "workers", "field", "problem"),
    [
        (axes(("", ("a",))), 1, "matrix[0].name", "'' must match"),
        (axes(("os_", ("a",))), 1, "matrix[0].name", "not ending with '_'"),
        (axes(("o\0s", ("a",))), 1, "matrix[0].name", "contains a NUL character"),
        (axes(("x" * 33, ("a",))), 1, "matrix[0].name", "at most 32"),
        (
            axes(("os", ("a",)), ("OS", ("b",))),
            1,
            "matrix[1].name",
            "'OS' and stages[0].matrix[0].name 'os' both name OTTO_MATRIX_OS",
        ),
        (axes(("os", ())), 1, "matrix[0].values", "must hold at least one value"),
        (axes(("os", ("a", ""))), 2, "matrix[0].values[1]", "is empty"),
        (axes(("os", ("a", "a"))), 2, "matrix[0].values[1]", "'a' repeats"),
        (axes(("os", ("a\0",))), 1, "matrix[0].values[0]", "contains a NUL character"),
        (axes(("os", ("x" * 257,))), 1, "matrix[0].values[0]", "257 characters, at most 256"),
        (axes(*[(f"a{n}", ("x",)) for n in range(9)]), 1, "matrix", "9 axes, at most 8"),
        (
            axes(("os", tuple(str(n) for n in range(300)))),
            300,
            "matrix[0].values",
            "300 values, at most 256",
        ),
        (
            axes(*[(f"a{n}", ("x", "y")) for n in range(6)]),
            64,
            "matrix",
            "makes 64 combinations, at most 50 (MAX_WORKERS_PER_TASK)",
        ),
        (AXES, 2**31 - 1, "worker_count", "2147483647 does not match the matrix's 6"),
    ],
)
def test_bad_matrices_name_the_field_and_the_limit(
    matrix: tuple[MatrixAxis, ...], workers: int, field: str, problem: str
) -> None:
    with pytest.raises(SpecError) as raised:
        check_matrix("stages[0]", matrix, workers, Limits())
    assert raised.value.field == f"stages[0].{field}"
    assert problem in raised.value.problem
