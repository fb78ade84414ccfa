"""ExecutePipeline over real gRPC, real Temporal, mock runtime."""

from __future__ import annotations

import uuid

import grpc

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc


def stage(stage_id: str, *deps: str, workers: int = 1, **mock: str) -> pb.PipelineStage:
    config = {f"mock.{key}": value for key, value in mock.items()}
    return pb.PipelineStage(
        stage_id=stage_id, type="test", worker_count=workers, depends_on=deps, config=config
    )


def request(*stages: pb.PipelineStage) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"gw-{uuid.uuid4().hex[:10]}",
        name="diamond",
        stages=stages,
        repository="otto/demo",
        commit_sha="abc123",
        triggered_by="tests",
    )


def transitions(events: list[pb.PipelineProgress]) -> list[tuple[str, str]]:
    return [(e.stage_id, pb.StageStatus.Name(e.status)) for e in events]


async def test_diamond_streams_every_transition_once_in_order(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(
        stage("a"),
        stage("b", "a", duration="0.3"),
        stage("c", "a", workers=2),
        stage("d", "b", "c"),
    )
    call = stub.ExecutePipeline(req)
    events = [event async for event in call]
    assert await call.code() == grpc.StatusCode.OK
    seen = transitions(events)
    assert seen[0] == ("", "STAGE_RUNNING")
    assert seen[-1] == ("", "STAGE_COMPLETED")
    assert events[-1].progress_percentage == 100
    for stage_id in "abcd":
        # each stage: RUNNING (scheduled), RUNNING (attempt 1/1 with pods), COMPLETED
        mine = [s for sid, s in seen if sid == stage_id]
        assert mine == ["STAGE_RUNNING", "STAGE_RUNNING", "STAGE_COMPLETED"], (stage_id, mine)
    order = [(sid, s) for sid, s in seen if s == "STAGE_COMPLETED" and sid]
    assert order.index(("a", "STAGE_COMPLETED")) == 0
    assert order[-1] == ("d", "STAGE_COMPLETED")
    assert seen.index(("d", "STAGE_RUNNING")) > seen.index(("b", "STAGE_COMPLETED"))
    assert seen.index(("d", "STAGE_RUNNING")) > seen.index(("c", "STAGE_COMPLETED"))
    c_done = next(e for e in events if e.stage_id == "c" and e.status == pb.STAGE_COMPLETED)
    assert len(c_done.worker_pod_names) == 2
    assert c_done.metrics.total_workers == 2 and c_done.metrics.successful_workers == 2
    assert c_done.timestamp.endswith("Z") and c_done.completed_at.endswith("Z")
    assert all(e.pipeline_id == req.pipeline_id for e in events)


async def test_failed_pipeline_ends_with_failed_event_and_status_ok(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(stage("build", exit_code="3"), stage("deploy", "build"), stage("lint"))
    call = stub.ExecutePipeline(req)
    events = [event async for event in call]
    assert await call.code() == grpc.StatusCode.OK
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert "build" in final.error_message and "exit 3" in final.error_message
    statuses = {e.stage_id: e.status for e in events if e.stage_id}
    assert statuses == {
        "build": pb.STAGE_FAILED,
        "deploy": pb.STAGE_SKIPPED,
        "lint": pb.STAGE_COMPLETED,
    }
