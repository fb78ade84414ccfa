"""The shared plot, second half: a client re-attaches to the new process with
WatchPipeline, the first stage's pods end, and the new process finishes the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE
from tests.reliability.cluster import pod_creations
from tests.reliability.diamond import FIRST, STAGES
from tests.reliability.scenario import InFlight, end_first_stage
from tests.reliability.serve import Serve

# A bound, not a timing: SIGKILLed activities come back after their 30 s heartbeat timeout.
FINISH_WITHIN = 90.0
WatchCall = aio.UnaryStreamCall[pb.PipelineRef, pb.PipelineProgress]


@dataclass(frozen=True)
class Reattached:
    at_attach: list[pb.PipelineProgress]  # WatchPipeline's snapshot: pipeline, then each stage
    live: list[pb.PipelineProgress]  # the transitions after it, to the stream's end
    final: pb.PipelineSnapshot  # GetPipeline once the stream ended


async def _events(call: WatchCall, count: int | None = None) -> list[pb.PipelineProgress]:
    """The next `count` events, or with None all of them to the stream's end."""
    events: list[pb.PipelineProgress] = []
    while count is None or len(events) < count:
        event = await call.read()
        if event is aio.EOF:
            break
        assert isinstance(event, pb.PipelineProgress)
        events.append(event)
    return events


async def reattach_and_finish(
    serve: Serve, emulator: KubeEmulator, inflight: InFlight
) -> Reattached:
    """The first stage's pods end only once the watch has its snapshot, so the new process
    must report their completion as live transitions."""
    async with aio.insecure_channel(serve.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        ref = pb.PipelineRef(pipeline_id=inflight.pipeline_id)
        watch: WatchCall = stub.WatchPipeline(ref)
        at_attach = await _events(watch, 1 + len(STAGES))
        end_first_stage(emulator, inflight)
        live = await _events(watch)
        return Reattached(at_attach, live, await stub.GetPipeline(ref))


def assert_finished_exactly_once(
    inflight: InFlight, seen: Reattached, emulator: KubeEmulator
) -> None:
    """Re-attached mid-pipeline, the client saw each stage complete once, in DAG order, with
    no retry; the run is the first one; each pod was created once and none is left."""
    assert [(e.stage_id, e.status) for e in seen.at_attach] == [
        ("", pb.STAGE_RUNNING),
        *((s, pb.STAGE_RUNNING if s == FIRST else pb.STAGE_PENDING) for s in STAGES),
    ]
    assert {e.status for e in seen.live} <= {pb.STAGE_RUNNING, pb.STAGE_COMPLETED}
    completed = [e.stage_id for e in seen.live if e.status == pb.STAGE_COMPLETED]
    assert (completed[0], sorted(completed[1:3]), completed[3:]) == (
        FIRST,
        ["lint", "unit"],
        ["package", ""],
    )
    assert seen.live[-1].progress_percentage == 100

    final = seen.final
    assert final.run_id == inflight.run_id, "the crash must not start a second run"
    assert final.status == pb.STAGE_COMPLETED
    pods = inflight.pods
    stages = {stage.stage_id: stage for stage in final.stages}
    for stage_id, names in pods.items():
        assert stages[stage_id].status == pb.STAGE_COMPLETED
        assert list(stages[stage_id].worker_pod_names) == names
        assert stages[stage_id].metrics.successful_workers == len(names)
    every_pod = [name for names in pods.values() for name in names]
    assert pod_creations(emulator) == dict.fromkeys(every_pod, 1)
    assert emulator.pods(NAMESPACE) == []
