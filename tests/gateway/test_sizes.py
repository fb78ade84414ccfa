"""Sizes near Temporal's limits over real gRPC and Temporal: a pipeline either completes
or is refused at submit naming the limit; it never stays RUNNING, and its stream and
re-attach never end INTERNAL."""

from __future__ import annotations

import asyncio
from typing import TypeAlias

import grpc
import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.waiting import eventually

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
VALUE = 30_000  # bytes a config value holds here, under the 32 KiB limit


async def collect_stream(
    call: aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress],
) -> list[pb.PipelineProgress]:
    return [event async for event in call]


def config_of(total: int) -> dict[str, str]:
    return {f"KEY_{n}": "x" * VALUE for n in range(total // VALUE)}


async def test_stages_at_the_size_limit_that_start_together_complete(stub: Stub) -> None:
    """Four stages whose attempts start 1.4 MB of specs each: allowed one by one, 5.5 MB
    in the first workflow task together, past its 4 MiB."""
    stages = [
        pb.PipelineStage(stage_id=f"big-{n}", worker_count=2, config=config_of(340_000))
        for n in range(4)
    ]
    events = await asyncio.wait_for(
        collect_stream(stub.ExecutePipeline(request(*stages))), timeout=240
    )
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_COMPLETED), final.message
    done = {e.stage_id for e in events if e.status == pb.STAGE_COMPLETED and e.stage_id}
    assert done == {f"big-{n}" for n in range(4)}


async def test_stages_too_many_for_one_workflow_task_even_in_children_are_refused(
    stub: Stub,
) -> None:
    stages = [
        pb.PipelineStage(stage_id=f"s{n}", worker_count=5, config={"K": "x" * 1_100})
        for n in range(1000)
    ]
    with pytest.raises(aio.AioRpcError) as raised:
        await asyncio.wait_for(collect_stream(stub.ExecutePipeline(request(*stages))), 60)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "in one workflow task, at most 3145728" in (raised.value.details() or "")


REASON = "r" * 32_000  # a failure reason of 32 KB: every failed attempt's error carries it


def failing(stage_id: str, attempts: int) -> pb.PipelineStage:
    s = stage(stage_id, exit_code="1", reason=REASON)
    s.retry_policy.CopyFrom(pb.RetryPolicy(max_attempts=attempts))
    return s


def errors_seen(events: list[pb.PipelineProgress]) -> int:
    return sum(1 for e in events if REASON in e.error_message)


async def test_reattaching_to_events_with_large_errors_gets_every_event(stub: Stub) -> None:
    """90 transitions carry a 32 KB error each: 2.9 MB, more than one query answers."""
    req = request(stage("slow", duration="600"), *(failing(f"err-{n}", 30) for n in range(3)))
    first = stub.ExecutePipeline(req)
    await asyncio.wait_for(anext(aiter(first)), 60)
    first.cancel()

    async def errors_finished() -> bool:
        snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
        return sum(s.status == pb.STAGE_FAILED for s in snap.stages) == 3

    await eventually(errors_finished, within=240, interval=0.5)
    again = stub.ExecutePipeline(req)
    events: list[pb.PipelineProgress] = []
    while errors_seen(events) < 90:
        events.append(await asyncio.wait_for(anext(aiter(again)), 60))
    assert [e.status for e in events if REASON in e.error_message].count(pb.STAGE_FAILED) == 3
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
    rest = await asyncio.wait_for(collect_stream(again), 120)
    assert (rest[-1].stage_id, rest[-1].status) == ("", pb.STAGE_CANCELLED)
    assert await again.code() is grpc.StatusCode.OK


async def test_a_pipeline_whose_stages_fail_with_large_errors_ends(stub: Stub) -> None:
    """Its result carries its snapshot and last transitions: 40 stages' errors of 32 KB
    would pass one payload twice over."""
    req = request(*(failing(f"err-{n}", 1) for n in range(40)))
    events = await asyncio.wait_for(collect_stream(stub.ExecutePipeline(req)), 240)
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_FAILED)
    assert errors_seen(events) == 40 + 1  # each stage's, and the pipeline's
    snap = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert all(s.status == pb.STAGE_FAILED and s.error_message for s in snap.stages)
