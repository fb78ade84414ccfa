"""Cleanup stages through the gRPC API (mock runtime): they run after every other stage,
whatever the outcome, and the pipeline's outcome stays true."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from gateway.app import Running
from gateway.pipelines.wire import stage_from_wire
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage, transitions
from workflows.workers.naming import pipeline_workflow_id

# otto-handler's StageType CLEANUP on field 2, a varint: tag (2 << 3 | 0) = 0x10, then 5.
CLEANUP_VARINT = bytes([0x10, 5])


def cleanup(s: pb.PipelineStage, when: str = "") -> pb.PipelineStage:
    s.cleanup = True
    s.when = when
    return s


def statuses(events: list[pb.PipelineProgress]) -> dict[str, int]:
    return {e.stage_id: e.status for e in events if e.stage_id}


async def test_cleanup_runs_after_a_failure_sees_it_and_the_pipeline_stays_failed(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(
        cleanup(stage("on-failure"), 'pipeline.status == "FAILED"'),
        cleanup(stage("on-success"), 'pipeline.status == "COMPLETED"'),
        stage("build", exit_code="3"),
        stage("lint", duration="0.5"),
        stage("deploy", "build"),
    )
    events = [e async for e in stub.ExecutePipeline(req)]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert "build" in final.error_message
    assert statuses(events) == {
        "on-failure": pb.STAGE_COMPLETED,
        "on-success": pb.STAGE_SKIPPED,
        "build": pb.STAGE_FAILED,
        "lint": pb.STAGE_COMPLETED,
        "deploy": pb.STAGE_SKIPPED,
    }
    seen = transitions(events)
    # Listed first, run last: after every other stage had ended.
    assert seen.index(("on-failure", "STAGE_RUNNING")) > seen.index(("lint", "STAGE_COMPLETED"))
    assert seen.index(("on-failure", "STAGE_RUNNING")) > seen.index(("deploy", "STAGE_SKIPPED"))


async def test_a_failing_cleanup_fails_a_pipeline_that_succeeded(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(stage("build"), cleanup(stage("teardown", exit_code="2")))
    events = [e async for e in stub.ExecutePipeline(req)]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert final.error_message.startswith("stage teardown:")
    assert statuses(events) == {"build": pb.STAGE_COMPLETED, "teardown": pb.STAGE_FAILED}


async def test_cleanup_stages_depend_on_each_other_and_see_the_others_status(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(
        stage("deploy"),
        cleanup(stage("collect", "deploy"), 'stages.deploy.status == "COMPLETED"'),
        cleanup(stage("release", "collect")),
    )
    events = [e async for e in stub.ExecutePipeline(req)]
    assert events[-1].status == pb.STAGE_COMPLETED
    seen = transitions(events)
    assert seen.index(("release", "STAGE_RUNNING")) > seen.index(("collect", "STAGE_COMPLETED"))


async def test_a_cancelled_pipeline_runs_its_cleanup_and_stays_cancelled(
    stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client, ottoscaler: Running
) -> None:
    req = request(
        stage("slow", duration="600"),
        stage("after", "slow"),
        cleanup(stage("teardown", duration="0.5"), 'pipeline.status == "CANCELLED"'),
    )
    call = stub.ExecutePipeline(req)
    async for event in call:
        if event.stage_id == "slow" and event.worker_pod_names:
            break
    reply = await stub.CancelPipeline(
        pb.CancelPipelineRequest(pipeline_id=req.pipeline_id, reason="enough")
    )
    assert reply.accepted
    events = [e async for e in call]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_CANCELLED)
    assert final.message == "pipeline cancelled: enough"
    assert statuses(events) == {
        "slow": pb.STAGE_CANCELLED,
        "after": pb.STAGE_CANCELLED,
        "teardown": pb.STAGE_COMPLETED,
    }
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    snapshot = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert snapshot.status == pb.STAGE_CANCELLED
    assert await ottoscaler.runtime.list({"pipeline-id": req.pipeline_id}) == []


async def test_cleanup_runs_after_the_deadline(stub: pb_grpc.OttoscalerServiceAsyncStub) -> None:
    req = request(stage("slow", duration="600"), cleanup(stage("teardown")))
    req.timeout_seconds = 2
    events = [e async for e in stub.ExecutePipeline(req)]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert "DeadlineExceeded" in final.message
    assert statuses(events) == {"slow": pb.STAGE_CANCELLED, "teardown": pb.STAGE_COMPLETED}


async def test_a_cancel_while_cleanup_runs_lets_it_finish_and_ends_cancelled(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(stage("build"), cleanup(stage("teardown", duration="3")))
    call = stub.ExecutePipeline(req)
    async for event in call:
        if event.stage_id == "teardown" and event.worker_pod_names:
            break
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
    events = [e async for e in call]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_CANCELLED)
    assert final.message.startswith("pipeline cancelled while its cleanup ran")
    assert statuses(events) == {"teardown": pb.STAGE_COMPLETED}


@pytest.mark.parametrize("kind", ["type", "varint"])
async def test_a_cleanup_type_makes_a_cleanup_stage(
    stub: pb_grpc.OttoscalerServiceAsyncStub, kind: str
) -> None:
    if kind == "type":
        teardown = pb.PipelineStage(stage_id="teardown", type="cleanup")
    else:  # otto-handler's enum: a varint on the string field
        wire = pb.PipelineStage(stage_id="teardown").SerializeToString() + CLEANUP_VARINT
        teardown = pb.PipelineStage.FromString(wire)
    req = request(teardown, stage("build", duration="0.5"))
    events = [e async for e in stub.ExecutePipeline(req)]
    assert events[-1].status == pb.STAGE_COMPLETED
    seen = transitions(events)
    assert seen.index(("teardown", "STAGE_RUNNING")) > seen.index(("build", "STAGE_COMPLETED"))


# Run with the other bad requests in test_validation.py.
BAD_REQUESTS = {
    "a stage that depends on a cleanup stage": (
        request(cleanup(stage("teardown")), stage("deploy", "teardown")),
        "stages[1].depends_on: stage 'deploy' depends on cleanup stage 'teardown'; cleanup "
        "runs after every other stage, so only cleanup stages may depend on it",
    ),
}


def test_a_cleanup_stage_without_a_timeout_gets_the_default_bound() -> None:
    """So that cleanup after a cancel always ends."""
    assert stage_from_wire(pb.PipelineStage(stage_id="t", cleanup=True)).timeout_seconds == 600
    assert stage_from_wire(pb.PipelineStage(stage_id="t")).timeout_seconds == 0


async def test_retry_pipeline_runs_cleanup_again(stub: pb_grpc.OttoscalerServiceAsyncStub) -> None:
    req = request(stage("lint"), stage("build", exit_code="3"), cleanup(stage("teardown")))
    first = [e async for e in stub.ExecutePipeline(req)]
    assert first[-1].status == pb.STAGE_FAILED
    retried = [
        e async for e in stub.RetryPipeline(pb.RetryPipelineRequest(pipeline_id=req.pipeline_id))
    ]
    messages = {(e.stage_id, e.status): e.message for e in retried if e.stage_id}
    assert messages[("lint", pb.STAGE_COMPLETED)] == "reused from the previous run"
    assert messages[("teardown", pb.STAGE_COMPLETED)] == "1/1 workers succeeded in 1 attempt(s)"
