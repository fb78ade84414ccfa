"""Pure shard decisions: worker specs and retry classification."""

from __future__ import annotations

import pytest

from workflows.pipeline.models import StageSpec
from workflows.pipeline.shards import StageContext, is_retryable
from workflows.workers.naming import (
    DNS1123_LABEL,
    MAX_NAME_LENGTH,
    stage_worker_name,
    stage_workflow_id,
)
from workflows.workers.spec import WorkerOutcome


def failed(reason: str, exit_code: int | None = None) -> WorkerOutcome:
    return WorkerOutcome(name="w", succeeded=False, reason=reason, exit_code=exit_code)


@pytest.mark.parametrize(
    ("outcome", "patterns", "expected"),
    [
        (failed("Error", 3), [], True),
        (failed("Error", 3), ["ExitCode:3"], True),
        (failed("Error", 3), ["ExitCode:4"], False),
        (failed("Error", 3), ["Error"], True),
        (failed("OOMKilled", 137), ["OOMKilled"], True),
        (failed("ImagePullBackOff"), ["OOMKilled", "Evicted"], False),
        (failed("DeadlineExceeded"), ["DeadlineExceeded"], True),
        (failed("InvalidOutputs"), [], False),
    ],
)
def test_is_retryable(outcome: WorkerOutcome, patterns: list[str], expected: bool) -> None:
    assert is_retryable(outcome, patterns) is expected


def test_worker_spec_carries_the_contract_environment_and_labels() -> None:
    stage = StageSpec(
        stage_id="unit",
        type="test",
        worker_count=3,
        config={"GOFLAGS": "-count=1", "mock.duration": "1", "not-an-env": "x"},
        timeout_seconds=90,
    )
    spec = StageContext("p1", "otto/demo", "abc", "run-1", stage).worker_spec(2, 1)
    assert spec.env == {
        "GOFLAGS": "-count=1",
        "OTTO_TASK_ID": "p1",
        "OTTO_PIPELINE_ID": "p1",
        "OTTO_STAGE_ID": "unit",
        "OTTO_WORKER_INDEX": "2",
        "OTTO_WORKER_COUNT": "3",
        "OTTO_ATTEMPT": "1",
        "OTTO_REPOSITORY": "otto/demo",
        "OTTO_COMMIT_SHA": "abc",
    }
    assert spec.labels["managed-by"] == "ottoscaler"
    assert (spec.labels["pipeline-id"], spec.labels["stage-id"]) == ("p1", "unit")
    assert spec.labels["stage-type"] == "test"
    assert spec.timeout_seconds == 90
    assert spec.pending_timeout_seconds == 300
    assert spec.summary == "unit · shard 2 of 3 · attempt 1/1"


@pytest.mark.parametrize("pipeline_id", ["p", "Pipeline_With.Dots", "x" * 63, "a" * 200])
def test_worker_names_are_dns_safe_and_distinct(pipeline_id: str) -> None:
    names = {
        stage_worker_name(pipeline_id, "Build.Stage", shard, attempt, run)
        for shard in range(3)
        for attempt in (1, 2)
        for run in ("run-a", "run-b")
    }
    assert len(names) == 12
    for name in names:
        assert len(name) <= MAX_NAME_LENGTH
        assert DNS1123_LABEL.match(name), name


def test_runs_started_together_get_different_names() -> None:
    """Temporal's run ids are UUIDv7: runs started within a minute share their first eight
    characters. Names and stage workflow ids depend on the whole run id."""
    first, second = (
        "019acd3e-51a2-7c4e-9f7b-4b1e2a6f0c11",
        "019acd3e-7713-70aa-8d21-c0ffee5a1b2c",
    )
    assert first[:8] == second[:8]
    assert stage_worker_name("p1", "build", 0, 1, first) != stage_worker_name(
        "p1", "build", 0, 1, second
    )
    assert stage_workflow_id("p1", "build", first) != stage_workflow_id("p1", "build", second)


def test_config_keys_never_pose_as_matrix_values_or_upstream_outputs() -> None:
    config = {"OTTO_MATRIX_OS": "forged", "OTTO_MATRIX": "[]", "OTTO_OUTPUT_A_B": "x", "KEEP": "1"}
    stage = StageSpec(stage_id="unit", config=config)
    ctx = StageContext("p", "r", "c", "run", stage, outputs_env={"OTTO_OUTPUT_A_B": "real"})
    env = ctx.worker_spec(0, 1).env
    assert env["KEEP"] == "1"
    assert env["OTTO_OUTPUT_A_B"] == "real"
    assert not any(k.startswith("OTTO_MATRIX") for k in env)
