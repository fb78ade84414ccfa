"""fail_fast, Web UI legibility, and history size per shard on a real dev server."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHistory

from activities.runtimes.mock.runtime import MockRuntime
from gateway.pipelines.service import PipelineService
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.builders import mock_stage, pipeline, run_pipeline, start, worker
from tests.waiting import eventually
from workflows.base.checks import Limits
from workflows.pipeline.models import StageStatus


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
        children = child_runs(await handle.fetch_history())
        build = client.get_workflow_handle(children[0].workflow_id, run_id=children[0].run_id)
        build_history = await build.fetch_history()
    assert "| build | COMPLETED | 1/1 | 2/2 |" in metadata.current_details
    assert "| test | COMPLETED | 1/1 | 1/1 |" in metadata.current_details
    summaries = {
        client.data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in build_history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert summaries == {
        f"{verb} build · shard {n}/2 · attempt 1/1"
        for verb in ("create", "await", "logs", "delete")
        for n in (1, 2)
    }


async def test_a_hundred_shards_keep_histories_small(client: Client, task_queue: str) -> None:
    """Each history grows by a bounded number of events per shard attempt."""
    spec = pipeline(mock_stage("wide", workers=100))
    async with worker(client, task_queue):
        handle = await start(client, task_queue, spec, Limits(max_workers_per_stage=100))
        result = await asyncio.wait_for(handle.result(), 120)
        parent = await handle.fetch_history()
        (child,) = child_runs(parent)
        child_history = await client.get_workflow_handle(
            child.workflow_id, run_id=child.run_id
        ).fetch_history()
    assert result.status is StageStatus.COMPLETED
    assert len(parent.events) < 40
    # create/await/logs/delete: 4 activities x 3 events per shard, plus workflow tasks
    assert len(child_history.events) < 100 * 15


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
        events = [e async for e in PipelineService(client, settings).execute(request)]
    assert events[-1].status == pb.STAGE_COMPLETED
    query = (
        f"OttoPipelineId = '{request.pipeline_id}' AND OttoStatus = 'COMPLETED' "
        "AND OttoRepository = 'otto/demo' AND OttoTriggeredBy = 'alice'"
    )

    async def listed() -> int:
        return len([w async for w in client.list_workflows(query)])

    assert await eventually(listed) == 1
