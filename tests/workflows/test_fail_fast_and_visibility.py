"""fail_fast, Web UI legibility, and history size per shard on a real dev server."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from activities.runtimes.mock.runtime import MockRuntime
from gateway.pipelines.service import PipelineService
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.builders import mock_stage, pipeline, run_pipeline, start, worker
from tests.signing import SIGNER
from tests.waiting import eventually
from workflows.base.checks import Limits
from workflows.pipeline.models import StageStatus
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id, stage_workflow_id


def child_runs(history: WorkflowHistory) -> list[WorkflowExecution]:
    return [
        e.child_workflow_execution_started_event_attributes.workflow_execution
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    ]


async def test_fail_fast_cancels_running_branches_and_deletes_their_workers(
    client: Client, task_queue: str
) -> None:
    spec = pipeline(
        mock_stage("slow", duration=60),
        mock_stage("after-slow", "slow"),
        mock_stage("bad", duration=0.5, exit_code=1),
    ).model_copy(update={"metadata": {"fail_fast": "true"}})
    runtime = MockRuntime()
    async with worker(client, task_queue, runtime):
        result, _ = await run_pipeline(client, task_queue, spec)
    statuses = {s.stage_id: s.status for s in result.stages}
    assert statuses == {
        "slow": StageStatus.CANCELLED,
        "after-slow": StageStatus.CANCELLED,
        "bad": StageStatus.FAILED,
    }
    assert result.status is StageStatus.FAILED
    assert result.error_message.startswith("stage bad:")
    assert await runtime.list({"pipeline-id": spec.pipeline_id}) == []


async def test_web_ui_shows_summaries_and_the_stage_table(client: Client, task_queue: str) -> None:
    spec = pipeline(mock_stage("build", workers=2), mock_stage("test", "build"))
    async with worker(client, task_queue):
        handle = await start(client, task_queue, spec)
        await handle.result()
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        history = await handle.fetch_history()
    lines = metadata.current_details.splitlines()
    assert lines[0].startswith("- build: COMPLETED · attempt 1/1 · 2/2 workers succeeded · ")
    assert lines[1].startswith("- test: COMPLETED · attempt 1/1 · 1/1 workers succeeded · ")
    assert len(lines) == 2
    summaries = [
        client.data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # One activity per worker attempt, in the pipeline's own history.
    assert sorted(summaries) == [
        "build · shard 0 of 2 · attempt 1/1",
        "build · shard 1 of 2 · attempt 1/1",
        "test · shard 0 of 1 · attempt 1/1",
    ]
    assert child_runs(history) == []


async def test_a_hundred_shards_keep_the_history_small(client: Client, task_queue: str) -> None:
    """The pipeline's history grows by a bounded number of events per shard attempt."""
    spec = pipeline(mock_stage("wide", workers=100))
    async with worker(client, task_queue, max_workers_per_task=100):
        handle = await start(client, task_queue, spec, Limits(max_workers_per_stage=100))
        result = (await asyncio.wait_for(handle.result(), 120)).snapshot
        history = await handle.fetch_history()
    assert result.status is StageStatus.COMPLETED
    assert child_runs(history) == []
    # run_worker: 3 events per shard, plus the workflow tasks that take the results in
    assert len(history.events) < 100 * 6


async def test_a_pipeline_too_large_for_one_history_runs_its_largest_stage_in_a_child(
    client: Client, task_queue: str
) -> None:
    """Three stages that may each write 3,000 events (50 workers x 10 attempts) pass the
    pipeline's 8,000-event budget: the first of the largest moves to a child workflow,
    whose attempts still reach the pipeline's progress."""
    spec = pipeline(
        *(mock_stage(f"big-{n}", workers=50, max_attempts=10, fail_attempts=1) for n in "abc")
    )
    async with worker(client, task_queue):
        handle = await start(client, task_queue, spec)
        result = (await asyncio.wait_for(handle.result(), 120)).snapshot
        children = child_runs(await handle.fetch_history())
        page = await handle.query(PipelineWorkflow.progress, 0)
    assert [c.workflow_id for c in children] == [
        stage_workflow_id(spec.pipeline_id, "big-a", handle.result_run_id or "")
    ]
    assert {s.stage_id: (s.status, s.attempt) for s in result.stages} == {
        f"big-{n}": (StageStatus.COMPLETED, 2) for n in "abc"
    }
    child_events = [(e.stage_id, e.status, e.message) for e in page.events if e.stage_id == "big-a"]
    assert ("big-a", StageStatus.RETRYING, "attempt 2/10 in 0s") in child_events
    assert ("big-a", StageStatus.RUNNING, "attempt 2/10") in child_events


async def test_search_attributes_follow_the_pipeline(client: Client, task_queue: str) -> None:
    settings = Settings(temporal_task_queue=task_queue, ottoscaler_runtime=RuntimeKind.MOCK)
    request = pb.PipelineRequest(
        pipeline_id=f"sa-{uuid.uuid4().hex[:8]}",
        stages=[pb.PipelineStage(stage_id="only")],
        repository="otto/demo",
        commit_sha="abc123",
        triggered_by="alice",
    )
    async with worker(client, task_queue):
        events = [e async for e in PipelineService(client, settings, SIGNER).execute(request)]
    assert events[-1].status == pb.STAGE_COMPLETED
    query = (
        f"OttoPipelineId = '{request.pipeline_id}' AND OttoStatus = 'COMPLETED' "
        "AND OttoRepository = 'otto/demo' AND OttoTriggeredBy = 'alice'"
    )

    async def listed() -> int:
        return len([w async for w in client.list_workflows(query)])

    assert await eventually(listed) == 1


async def test_a_failed_stage_in_a_child_fails_its_child_and_reaches_the_pipeline(
    client: Client, task_queue: str
) -> None:
    """The child's workflow is Failed in Temporal, and the pipeline reports the stage's
    own error, not a generic one."""
    spec = pipeline(
        mock_stage("big-a", workers=50, max_attempts=10, exit_code=1, retryable=["OOMKilled"]),
        *(mock_stage(f"big-{n}", workers=50, max_attempts=10) for n in "bc"),
    )
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, spec)
        handle = client.get_workflow_handle(pipeline_workflow_id(spec.pipeline_id))
        (child,) = child_runs(await handle.fetch_history())
        described = await client.get_workflow_handle(child.workflow_id).describe()
    assert described.status is WorkflowExecutionStatus.FAILED
    big_a = next(s for s in result.stages if s.stage_id == "big-a")
    assert big_a.status is StageStatus.FAILED
    assert big_a.error_message == "shard 0 of 50: Error (exit 1) (not retryable)"
    assert big_a.metrics.failed_workers == 50
    assert result.status is StageStatus.FAILED
