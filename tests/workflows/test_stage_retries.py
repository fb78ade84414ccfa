"""Stage retries, delays, timeouts and failure rules; timers on the time-skipping server."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.runtimes.local import LocalRuntime
from tests.builders import mock_stage, pipeline, run_pipeline, worker
from tests.runtimes import FlakyApiRuntime
from workflows.pipeline.models import RetrySpec, StageSpec, StageStatus

COMPLETED, FAILED, RETRYING = StageStatus.COMPLETED, StageStatus.FAILED, StageStatus.RETRYING


async def test_retry_waits_on_a_durable_timer_and_reports_retrying(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    spec = pipeline(mock_stage("flaky", fail_attempts=2, max_attempts=3, retry_delay=3600))
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
    stage = result.stages[0]
    assert (stage.status, stage.attempt) == (COMPLETED, 3)
    retrying = [e for e in events if e.status is RETRYING]
    assert [e.message for e in retrying] == [
        "attempt 2/3 in 3600s",
        "attempt 3/3 in 3600s",
    ]
    assert all("Error (exit 1)" in e.error_message for e in retrying)
    assert [e.message for e in events if e.stage_id == "flaky" and e.message.startswith("attempt")][
        :1
    ] == ["attempt 1/3"]


async def test_only_the_failed_shards_run_again(
    time_skipping_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    client = time_skipping_env.client
    runs = tmp_path / "runs"
    script = (
        f'echo "$OTTO_WORKER_INDEX/$OTTO_ATTEMPT" >> {runs}; '
        '[ "$OTTO_WORKER_INDEX" != 1 ] || [ "$OTTO_ATTEMPT" != 1 ]'
    )
    stage = StageSpec(
        stage_id="shards",
        worker_count=3,
        command=("sh", "-c", script),
        retry=RetrySpec(max_attempts=2),
    )
    runtime = LocalRuntime(tmp_path / "workers")
    async with worker(client, task_queue, runtime):
        result, _ = await run_pipeline(client, task_queue, pipeline(stage))
    await runtime.close()
    state = result.stages[0]
    assert state.status is COMPLETED
    assert sorted(runs.read_text().split()) == ["0/1", "1/1", "1/2", "2/1"]
    assert [name.rsplit("-", 3)[1:3] for name in state.worker_pod_names] == [
        ["0", "a1"],
        ["1", "a2"],
        ["2", "a1"],
    ]
    assert (state.metrics.successful_workers, state.metrics.total_workers) == (3, 3)


@pytest.mark.parametrize(
    ("reason", "retryable", "max_attempts", "status", "attempts"),
    [
        ("OOMKilled", ["OOMKilled"], 2, COMPLETED, 2),
        ("", ["OOMKilled"], 2, FAILED, 1),  # exit 1 is "Error": not in the list
        ("", ["ExitCode:1"], 2, COMPLETED, 2),
        ("Evicted", [], 2, COMPLETED, 2),  # an empty list retries everything
        ("", [], 1, FAILED, 1),
        ("", [], 0, FAILED, 1),  # 0 means one run, as 1 does
    ],
)
async def test_retryable_failures_decide(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    reason: str,
    retryable: list[str],
    max_attempts: int,
    status: StageStatus,
    attempts: int,
) -> None:
    client = time_skipping_env.client
    stage = mock_stage(
        "s", fail_attempts=1, reason=reason, max_attempts=max_attempts, retryable=retryable
    )
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, pipeline(stage))
    assert (result.stages[0].status, result.stages[0].attempt) == (status, attempts)
    if status is FAILED and retryable:
        assert "not retryable" in result.stages[0].error_message


async def test_infrastructure_errors_never_count_as_attempts(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    runtime = FlakyApiRuntime(failures=3)
    async with worker(client, task_queue, runtime):
        result, events = await run_pipeline(client, task_queue, pipeline(mock_stage("build")))
    assert (result.stages[0].status, result.stages[0].attempt) == (COMPLETED, 1)
    assert runtime.create_calls == 4
    assert not [e for e in events if e.status is RETRYING]


async def test_timeout_fails_the_shard_with_deadline_exceeded(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    spec = pipeline(mock_stage("slow", duration=30, timeout=1), mock_stage("next", "slow"))
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, spec)
    slow, after = result.stages
    assert slow.status is FAILED
    assert "DeadlineExceeded" in slow.error_message
    assert after.status is StageStatus.SKIPPED
    assert result.error_message.startswith("stage slow: shard 0 of 1: DeadlineExceeded")
