"""MAX_WORKERS holds for pipelines and pools together, over real gRPC and Temporal.

The mock runtime records the most workers that were ever pending or running at once
(peak_live): the limit as the runtime itself saw it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeAlias, TypeVar

import grpc
import pytest
from grpc import aio
from temporalio.client import Client

from activities.runtimes.mock.runtime import MockRuntime
from gateway.app import Running, running_ottoscaler
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.pools.calls import new_task, scale_down, scale_request, scale_up
from tests.waiting import eventually
from workflows.workers.spec import Labels, WorkerInfo, WorkerSpec

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
T = TypeVar("T")
MAX_WORKERS = 6
WAITING = f"waiting for room: MAX_WORKERS={MAX_WORKERS}"


class RecordingRuntime(MockRuntime):
    """The mock runtime, remembering every worker it was asked to create (name: pipeline)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, str] = {}

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        self.created[spec.name] = spec.labels.get(Labels.PIPELINE_ID, "")
        return await super().create(spec)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_workers": MAX_WORKERS})


@pytest.fixture
def runtime() -> RecordingRuntime:
    return RecordingRuntime()


@pytest.fixture
async def ottoscaler(
    client: Client, settings: Settings, runtime: RecordingRuntime
) -> AsyncIterator[Running]:
    async with running_ottoscaler(settings, client, runtime) as running:
        yield running


async def collect(call: aio.UnaryStreamCall[Any, T]) -> list[T]:
    return [event async for event in call]


def waited(events: list[pb.PipelineProgress], stage_id: str) -> bool:
    return any(e.stage_id == stage_id and WAITING in e.message for e in events)


async def stage_waiting(stub: Stub, pipeline_id: str, stage_id: str) -> bool:
    try:
        snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=pipeline_id))
    except aio.AioRpcError:  # not started yet
        return False
    return any(s.stage_id == stage_id and WAITING in s.message for s in snap.stages)


async def scale_up_refused(stub: Stub) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ScaleUp(scale_request(new_task(), 1))
    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"MAX_WORKERS={MAX_WORKERS}" in (refused.value.details() or "")


async def test_a_pipeline_wider_than_max_workers_waits_for_room_and_completes(
    stub: Stub, runtime: RecordingRuntime, ottoscaler: Running
) -> None:
    # 30 workers at once, 6 allowed. max_attempts 45 sends wide-a into a StageWorkflow
    # child (too large for the pipeline's history): its waits reach the stream too.
    stages = [stage(f"wide-{n}", workers=10, duration="1.5") for n in "abc"]
    for wide in stages:
        wide.retry_policy.max_attempts = 45
    events = await asyncio.wait_for(collect(stub.ExecutePipeline(request(*stages))), 240)
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)
    assert runtime.peak_live == MAX_WORKERS
    assert len(runtime.created) == 30
    for wide in stages:
        mine = [e for e in events if e.stage_id == wide.stage_id]
        assert waited(mine, wide.stage_id), [e.message for e in mine]
        waiting = next(e for e in mine if WAITING in e.message)
        assert waiting.status == pb.STAGE_RUNNING
        assert waiting.message.startswith("attempt 1/45 · ")
        assert "no longer waiting for room" in mine[-2].message
        assert mine[-1].status == pb.STAGE_COMPLETED


async def test_pools_and_pipelines_share_max_workers(
    stub: Stub, runtime: RecordingRuntime, ottoscaler: Running
) -> None:
    task = new_task()
    pool = await scale_up(stub, task, 3, mock_duration="600")
    assert pool.status == pb.ScaleResponse.SUCCESS, pool.message
    req = request(stage("build", workers=6, duration="10"))
    stream = asyncio.ensure_future(collect(stub.ExecutePipeline(req)))
    await eventually(lambda: stage_waiting(stub, req.pipeline_id, "build"), within=60)
    assert len(await ottoscaler.runtime.list({"pipeline-id": req.pipeline_id})) == 3

    # The room is full: 3 pool workers and 3 of the pipeline's, 3 more waiting.
    await scale_up_refused(stub)

    await scale_down(stub, task, 0)  # the pipeline's waiting workers take the room
    events = await asyncio.wait_for(stream, 120)
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)
    assert runtime.peak_live == MAX_WORKERS


async def test_a_cancelled_waiting_pipeline_ends_cleanly_and_never_creates(
    stub: Stub, runtime: RecordingRuntime, ottoscaler: Running
) -> None:
    holder = request(stage("hold", workers=MAX_WORKERS, duration="600"))
    holding = asyncio.ensure_future(collect(stub.ExecutePipeline(holder)))

    async def holding_all() -> bool:
        held = await ottoscaler.runtime.list({"pipeline-id": holder.pipeline_id})
        return len(held) == MAX_WORKERS

    await eventually(holding_all, within=60)
    await scale_up_refused(stub)  # the pipeline holds all the room
    waiter = request(stage("queued", workers=2, duration="0"))
    waiting = asyncio.ensure_future(collect(stub.ExecutePipeline(waiter)))
    await eventually(lambda: stage_waiting(stub, waiter.pipeline_id, "queued"), within=60)

    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=waiter.pipeline_id))
    events = await asyncio.wait_for(waiting, 60)
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_CANCELLED)
    assert waited(events, "queued")
    # Then the room frees: the cancelled pipeline's workers must not take it.
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=holder.pipeline_id))
    await asyncio.wait_for(holding, 60)
    full = await scale_up(stub, new_task(), MAX_WORKERS, mock_duration="600")
    assert full.status == pb.ScaleResponse.SUCCESS, full.message
    assert waiter.pipeline_id not in runtime.created.values()
    assert runtime.peak_live == MAX_WORKERS
