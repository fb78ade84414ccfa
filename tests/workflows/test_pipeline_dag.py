"""PipelineWorkflow on a real Temporal dev server with the mock runtime."""

from __future__ import annotations

from temporalio.client import Client

from tests.builders import mock_stage, pipeline, run_pipeline, version_of, worker
from workflows.pipeline.models import StageStatus

COMPLETED = StageStatus.COMPLETED
RUNNING = StageStatus.RUNNING


async def test_chain_runs_each_stage_after_the_one_before(client: Client, task_queue: str) -> None:
    spec = pipeline(mock_stage("build"), mock_stage("test", "build"), mock_stage("deploy", "test"))
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
    assert result.status is COMPLETED
    assert result.progress_percentage == 100
    assert [s.status for s in result.stages] == [COMPLETED] * 3
    assert version_of(events, "build", COMPLETED) < version_of(events, "test", RUNNING)
    assert version_of(events, "test", COMPLETED) < version_of(events, "deploy", RUNNING)
    assert events[0].stage_id == "" and events[0].status is RUNNING
    assert events[-1].stage_id == "" and events[-1].status is COMPLETED


async def test_diamond_joins_only_after_both_branches(client: Client, task_queue: str) -> None:
    spec = pipeline(
        mock_stage("a"),
        mock_stage("b", "a", duration=0.3),
        mock_stage("c", "a"),
        mock_stage("d", "b", "c"),
    )
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
    assert result.status is COMPLETED
    d_starts = version_of(events, "d", RUNNING)
    assert version_of(events, "b", COMPLETED) < d_starts
    assert version_of(events, "c", COMPLETED) < d_starts
    # b and c run side by side: both started before either finished.
    assert version_of(events, "c", RUNNING) < version_of(events, "b", COMPLETED)


async def test_stage_starts_while_an_unrelated_slow_branch_runs(
    client: Client, task_queue: str
) -> None:
    """A true DAG: 'quick-next' does not wait for the level's slowest stage 'slow'."""
    spec = pipeline(
        mock_stage("slow", duration=1.5),
        mock_stage("quick"),
        mock_stage("quick-next", "quick"),
    )
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
    assert result.status is COMPLETED
    assert version_of(events, "quick-next", COMPLETED) < version_of(events, "slow", COMPLETED)


async def test_fan_out_fan_in_with_a_sharded_stage(client: Client, task_queue: str) -> None:
    spec = pipeline(
        mock_stage("checkout"),
        mock_stage("unit", "checkout", workers=3),
        mock_stage("lint", "checkout"),
        mock_stage("docs", "checkout"),
        mock_stage("release", "unit", "lint", "docs"),
    )
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
    assert result.status is COMPLETED
    unit = next(s for s in result.stages if s.stage_id == "unit")
    assert len(unit.worker_pod_names) == 3
    assert len(set(unit.worker_pod_names)) == 3
    assert unit.metrics.total_workers == 3 and unit.metrics.successful_workers == 3
    release = version_of(events, "release", RUNNING)
    for dep in ("unit", "lint", "docs"):
        assert version_of(events, dep, COMPLETED) < release
    # every transition is logged once, versions without gaps
    assert [e.version for e in events] == list(range(1, len(events) + 1))
