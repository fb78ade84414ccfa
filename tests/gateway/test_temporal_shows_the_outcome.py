"""What Temporal's own tools show of a pipeline is what happened to it: a failed
pipeline's workflow is Failed, a cancelled one Canceled, and the gateway still reads them."""

from __future__ import annotations

import asyncio
from typing import TypeAlias

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.gateway.test_pipeline_lifecycle import collect, stage_running
from tests.waiting import eventually
from workflows.workers.naming import pipeline_workflow_id, stage_workflow_id

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"


async def listed(client: Client, query: str) -> list[str]:
    return [w.id async for w in client.list_workflows(query)]


async def test_a_failed_pipeline_is_failed_in_temporal(stub: Stub, client: Client) -> None:
    req = request(stage("build"), stage("test", "build", exit_code="3"), stage("deploy", "test"))
    events = await collect(stub.ExecutePipeline(req))
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_FAILED)

    workflow_id = pipeline_workflow_id(req.pipeline_id)
    handle = client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    try:
        await handle.result()
        raise AssertionError("a failed pipeline's workflow must not complete")
    except WorkflowFailureError as err:
        cause = err.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "PipelineFailed" and cause.non_retryable
    # The failure names the first error and lists every stage, as the Web UI shows it.
    assert "pipeline failed: 1/3 stages completed" in cause.message
    assert "first error: stage test: shard 0 of 1: Error (exit 3)" in cause.message
    assert "- build: COMPLETED" in cause.message
    assert "- deploy: SKIPPED" in cause.message

    # The Web UI's status filter and the OttoStatus filter agree.
    await eventually(
        lambda: _has(client, f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Failed'")
    )
    await eventually(
        lambda: _has(client, f"WorkflowId = '{workflow_id}' AND OttoStatus = 'FAILED'")
    )
    assert not await listed(
        client, f"WorkflowId = '{workflow_id}' AND ExecutionStatus = 'Completed'"
    )

    # The gateway reads the failed run as before: its snapshot, a re-attach, a retry.
    snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert snap.status == pb.STAGE_FAILED
    assert [s.status for s in snap.stages] == [
        pb.STAGE_COMPLETED,
        pb.STAGE_FAILED,
        pb.STAGE_SKIPPED,
    ]
    watched = await collect(stub.WatchPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id)))
    assert watched[0].status == pb.STAGE_FAILED
    retried = await collect(
        stub.RetryPipeline(pb.RetryPipelineRequest(pipeline_id=req.pipeline_id))
    )
    assert retried[-1].status == pb.STAGE_FAILED  # exit_code 3 again, but build was reused
    assert ("build", pb.STAGE_COMPLETED) in [(e.stage_id, e.status) for e in retried]


async def test_a_cancelled_pipeline_is_canceled_in_temporal(stub: Stub, client: Client) -> None:
    req = request(stage("slow", duration="60"))
    stream = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "slow"))
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
    events = await asyncio.wait_for(stream, 60)
    assert events[-1].status == pb.STAGE_CANCELLED
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED


async def test_a_completed_pipeline_is_completed_in_temporal(stub: Stub, client: Client) -> None:
    req = request(stage("build"))
    events = await collect(stub.ExecutePipeline(req))
    assert events[-1].status == pb.STAGE_COMPLETED
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED


async def _has(client: Client, query: str) -> bool:
    return bool(await listed(client, query))


async def test_every_run_has_its_own_worker_names_and_stage_ids(stub: Stub) -> None:
    """Temporal's run ids are time-ordered (runs started together share a prefix), so
    names take the whole run id into account: two runs of one pipeline id, started one
    right after the other, never share a worker name."""
    req = request(stage("build", workers=2))
    names: list[set[str]] = []
    runs: list[str] = []
    for _ in range(2):
        events = await collect(stub.ExecutePipeline(req))
        assert events[-1].status == pb.STAGE_COMPLETED
        snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
        names.append(set(snap.stages[0].worker_pod_names))
        runs.append(snap.run_id)
    assert runs[0] != runs[1]
    assert len(names[0]) == len(names[1]) == 2
    assert not names[0] & names[1]
    assert stage_workflow_id(req.pipeline_id, "build", runs[0]) != stage_workflow_id(
        req.pipeline_id, "build", runs[1]
    )
