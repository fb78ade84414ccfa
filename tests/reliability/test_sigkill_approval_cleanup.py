"""SIGKILL of `ottoscaler serve` while an approval waits, and while a cleanup stage runs:
another process finishes the pipeline, and nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import signal
import uuid

from grpc import aio
from temporalio.client import Client

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.reliability.cluster import pod_creations, running_pods, workers_followed
from tests.reliability.reattach import FINISH_WITHIN
from tests.reliability.scenario import UNDER_LOAD_WITHIN
from tests.reliability.serve import Launch, Serve
from tests.waiting import eventually
from workflows.workers.naming import stage_worker_name


def _request(*stages: pb.PipelineStage) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"rel-{uuid.uuid4().hex[:8]}",
        repository="otto/demo",
        commit_sha="abc123",
        stages=stages,
    )


def _pod_stage(stage_id: str, seconds: str, *deps: str, cleanup: bool = False) -> pb.PipelineStage:
    return pb.PipelineStage(
        stage_id=stage_id,
        type="test",
        depends_on=deps,
        config={"FAKE_DURATION": seconds},
        cleanup=cleanup,
    )


async def _killed(serve: Serve) -> None:
    serve.process.send_signal(signal.SIGKILL)
    assert await serve.process.wait() == -signal.SIGKILL


async def _snapshot(serve: Serve, pipeline_id: str) -> pb.PipelineSnapshot:
    async with aio.insecure_channel(serve.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        return await stub.GetPipeline(pb.PipelineRef(pipeline_id=pipeline_id))


async def _watch_to_end(serve: Serve, pipeline_id: str) -> pb.PipelineSnapshot:
    """WatchPipeline on serve until the pipeline ends; then its snapshot."""
    async with aio.insecure_channel(serve.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        ref = pb.PipelineRef(pipeline_id=pipeline_id)
        async for _ in stub.WatchPipeline(ref):
            pass
        return await stub.GetPipeline(ref)


async def _start(serve: Serve, request: pb.PipelineRequest) -> None:
    """ExecutePipeline until its first event: the pipeline runs on its own from then."""
    async with aio.insecure_channel(serve.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        call = stub.ExecutePipeline(request)
        first = await call.read()
        assert isinstance(first, pb.PipelineProgress)
        call.cancel()


async def test_an_approval_answered_after_a_crash_counts(
    kube_cluster: KubeCluster, launch: Launch
) -> None:
    request = _request(
        pb.PipelineStage(stage_id="gate", type="approval"),
        _pod_stage("deploy", "1", "gate"),
    )
    first = await launch()
    await _start(first, request)

    async def waiting() -> bool:
        stages = (await _snapshot(first, request.pipeline_id)).stages
        return any(s.stage_id == "gate" and s.message.startswith("waiting") for s in stages)

    await eventually(waiting, within=UNDER_LOAD_WITHIN)
    await _killed(first)

    second = await launch()
    async with aio.insecure_channel(second.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        answer = pb.ApproveStageRequest(
            pipeline_id=request.pipeline_id, stage_id="gate", approved=True, approver="alice"
        )
        reply = await asyncio.wait_for(stub.ApproveStage(answer), FINISH_WITHIN)
    assert reply.message == "stage gate approved by alice"
    final = await asyncio.wait_for(_watch_to_end(second, request.pipeline_id), FINISH_WITHIN)
    assert final.status == pb.STAGE_COMPLETED
    stages = {s.stage_id: s for s in final.stages}
    assert dict(stages["gate"].outputs) == {"approver": "alice", "comment": ""}
    assert stages["deploy"].status == pb.STAGE_COMPLETED
    assert kube_cluster.emulator.pods(NAMESPACE) == []
    assert second.logged_errors() == []


async def test_a_cleanup_stage_running_at_a_crash_runs_its_workers_once(
    client: Client, kube_cluster: KubeCluster, launch: Launch
) -> None:
    emulator = kube_cluster.emulator
    request = _request(_pod_stage("build", "1"), _pod_stage("teardown", "600", cleanup=True))
    first = await launch()
    await _start(first, request)

    async def teardown_followed() -> bool:
        if running_pods(emulator, "teardown") != 1:
            return False
        run_id = (await _snapshot(first, request.pipeline_id)).run_id
        return await workers_followed(client, request.pipeline_id, run_id, 1)

    await eventually(teardown_followed, within=UNDER_LOAD_WITHIN)
    run_id = (await _snapshot(first, request.pipeline_id)).run_id
    await _killed(first)

    second = await launch()
    teardown = stage_worker_name(request.pipeline_id, "teardown", 0, 1, run_id)
    emulator.exit(NAMESPACE, teardown, 0)
    final = await asyncio.wait_for(_watch_to_end(second, request.pipeline_id), FINISH_WITHIN)
    assert final.run_id == run_id
    assert final.status == pb.STAGE_COMPLETED
    assert {s.stage_id: s.status for s in final.stages} == {
        "build": pb.STAGE_COMPLETED,
        "teardown": pb.STAGE_COMPLETED,
    }
    build = stage_worker_name(request.pipeline_id, "build", 0, 1, run_id)
    assert pod_creations(emulator) == {build: 1, teardown: 1}
    assert emulator.pods(NAMESPACE) == []
    assert second.logged_errors() == []
