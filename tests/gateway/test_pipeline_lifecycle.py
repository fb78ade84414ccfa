"""Cancel, re-attach, watch, get and retry a pipeline over real gRPC and Temporal."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import grpc
import pytest
from grpc import aio
from temporalio.client import Client

from gateway.app import Running
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.waiting import eventually
from workflows.workers.naming import pipeline_workflow_id

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
T = TypeVar("T")
LOCAL = pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])


def sh(stage_id: str, script: str, *deps: str, workers: int = 1) -> pb.PipelineStage:
    return pb.PipelineStage(
        stage_id=stage_id,
        worker_count=workers,
        depends_on=deps,
        command=["sh", "-c", script],
    )


async def collect(call: aio.UnaryStreamCall[Any, T]) -> list[T]:
    return [event async for event in call]


async def stage_running(stub: Stub, pipeline_id: str, stage_id: str) -> bool:
    try:
        snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=pipeline_id))
    except aio.AioRpcError:
        return False
    return any(
        s.stage_id == stage_id and s.status == pb.STAGE_RUNNING and s.worker_pod_names
        for s in snap.stages
    )


@LOCAL
async def test_cancel_deletes_workers_and_ends_the_stream_cancelled(
    stub: Stub, ottoscaler: Running
) -> None:
    req = request(sh("slow", "sleep 60"), sh("after", "true", "slow"), sh("other", "sleep 60"))
    stream = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "slow"))
    # RUNNING names the workers when the attempt starts; wait until they exist.
    await eventually(lambda: ottoscaler.runtime.list({"pipeline-id": req.pipeline_id}))
    answer = await stub.CancelPipeline(
        pb.CancelPipelineRequest(pipeline_id=req.pipeline_id, reason="user pressed stop")
    )
    assert answer.accepted
    events = await asyncio.wait_for(stream, 30)
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_CANCELLED)
    assert "user pressed stop" in final.message
    last = {e.stage_id: e.status for e in events if e.stage_id}
    assert last == {
        "slow": pb.STAGE_CANCELLED,
        "after": pb.STAGE_CANCELLED,
        "other": pb.STAGE_CANCELLED,
    }
    # Every worker the pipeline created is gone: its processes were killed.
    assert await ottoscaler.runtime.list({"pipeline-id": req.pipeline_id}) == []
    again = await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
    assert not again.accepted
    assert "already canceled" in again.message


@LOCAL
async def test_temporal_cli_cancel_has_the_same_effect(
    stub: Stub, ottoscaler: Running, client: Client
) -> None:
    req = request(sh("slow", "sleep 60"))
    stream = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "slow"))
    temporal = Path(sys.executable).parent / "temporal"
    address = client.service_client.config.target_host
    cancel = await asyncio.create_subprocess_exec(
        str(temporal),
        "workflow",
        "cancel",
        "--address",
        address,
        "-w",
        pipeline_workflow_id(req.pipeline_id),
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(cancel.wait(), 30) == 0

    events = await asyncio.wait_for(stream, 30)
    assert events[-1].status == pb.STAGE_CANCELLED
    assert await ottoscaler.runtime.list({"pipeline-id": req.pipeline_id}) == []


async def test_execute_attaches_to_a_running_pipeline(stub: Stub, client: Client) -> None:
    req = request(stage("work", duration="1.5"))
    first = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "work"))
    second = await collect(stub.ExecutePipeline(req))
    first_events = await first
    assert second[-1].status == first_events[-1].status == pb.STAGE_COMPLETED
    runs = [
        w
        async for w in client.list_workflows(
            f"WorkflowId = '{pipeline_workflow_id(req.pipeline_id)}'"
        )
    ]
    assert len(runs) == 1, "attaching must never start a second run"
    # Once closed, the same pipeline_id starts a new run.
    before = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    third = await collect(stub.ExecutePipeline(req))
    after = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert third[-1].status == pb.STAGE_COMPLETED
    assert after.run_id != before.run_id


async def test_a_stream_ends_with_its_run_when_the_id_starts_again(
    stub: Stub, client: Client
) -> None:
    """Terminated from the Temporal CLI and started again at once: the first stream gets
    its run's end, never the new run's transitions."""
    req = request(stage("work", duration="60"))
    first = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "work"))
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    await handle.terminate(reason="by hand")
    quick = request(stage("work", duration="0"))
    quick.pipeline_id = req.pipeline_id
    second = await collect(stub.ExecutePipeline(quick))
    first_events = await asyncio.wait_for(first, 30)
    assert second[-1].status == pb.STAGE_COMPLETED
    assert first_events[-1].status == pb.STAGE_CANCELLED
    assert first_events[-1].message == "pipeline workflow terminated"
    assert all(e.status != pb.STAGE_COMPLETED for e in first_events)


async def test_watch_streams_snapshot_then_live(stub: Stub) -> None:
    # "second" runs long enough to be seen running on a loaded machine (a CI run once
    # missed a 1 s window).
    req = request(
        stage("first"), stage("second", "first", duration="3.0"), stage("third", "second")
    )
    execute = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_running(stub, req.pipeline_id, "second"))
    watched = await collect(stub.WatchPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id)))
    await execute
    assert (watched[0].stage_id, watched[0].status) == ("", pb.STAGE_RUNNING)
    snapshot = {e.stage_id: e.status for e in watched[1:4]}
    assert snapshot == {
        "first": pb.STAGE_COMPLETED,
        "second": pb.STAGE_RUNNING,
        "third": pb.STAGE_PENDING,
    }
    live = [(e.stage_id, e.status) for e in watched[4:]]
    assert ("second", pb.STAGE_COMPLETED) in live
    assert ("third", pb.STAGE_COMPLETED) in live
    assert live[-1] == ("", pb.STAGE_COMPLETED)
    assert ("first", pb.STAGE_RUNNING) not in live, "nothing from before the snapshot"


async def test_get_pipeline_snapshot_and_not_found(stub: Stub) -> None:
    req = request(stage("a"), stage("b", "a", exit_code="2"), stage("c", "b"))
    await collect(stub.ExecutePipeline(req))
    snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert snap.status == pb.STAGE_FAILED
    assert snap.run_id
    assert snap.progress_percentage == 100
    assert {s.stage_id: s.status for s in snap.stages} == {
        "a": pb.STAGE_COMPLETED,
        "b": pb.STAGE_FAILED,
        "c": pb.STAGE_SKIPPED,
    }
    assert "stage b" in snap.error_message
    with pytest.raises(aio.AioRpcError) as get_missing:
        await stub.GetPipeline(pb.PipelineRef(pipeline_id="no-such-pipeline"))
    assert get_missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert "no-such-pipeline" in (get_missing.value.details() or "")
    with pytest.raises(aio.AioRpcError) as cancel_missing:
        await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id="no-such-pipeline"))
    assert cancel_missing.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(aio.AioRpcError) as watch_missing:
        await collect(stub.WatchPipeline(pb.PipelineRef(pipeline_id="no-such-pipeline")))
    assert watch_missing.value.code() is grpc.StatusCode.NOT_FOUND


@LOCAL
async def test_retry_reruns_only_what_did_not_complete(stub: Stub, tmp_path: Path) -> None:
    marker, runs_of_a = tmp_path / "fixed", tmp_path / "a-runs"
    req = request(
        sh("a", f"echo run >> {runs_of_a}"),
        sh("b", f"test -f {marker}", "a"),
        sh("c", "true", "b"),
        sh("d", "true", "a"),
    )
    first = await collect(stub.ExecutePipeline(req))
    assert first[-1].status == pb.STAGE_FAILED
    marker.touch()  # the flaky thing is fixed
    retried = await collect(
        stub.RetryPipeline(pb.RetryPipelineRequest(pipeline_id=req.pipeline_id, triggered_by="me"))
    )
    assert retried[-1].status == pb.STAGE_COMPLETED
    reused = {e.stage_id for e in retried if "reused" in e.message}
    assert reused == {"a", "d"}
    assert runs_of_a.read_text().count("run") == 1, "a completed before and must not rerun"
    ran = {e.stage_id for e in retried if e.stage_id and e.status == pb.STAGE_RUNNING}
    assert ran == {"b", "c"}
    with pytest.raises(aio.AioRpcError) as nothing_left:
        await collect(stub.RetryPipeline(pb.RetryPipelineRequest(pipeline_id=req.pipeline_id)))
    assert nothing_left.value.code() is grpc.StatusCode.FAILED_PRECONDITION
