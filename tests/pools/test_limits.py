"""Limits and bad requests: each error names the field, the limit and its value."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from gateway.app import Running
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, scale_request, scale_up


async def refused(stub: Stub, request: pb.ScaleRequest) -> aio.AioRpcError:
    with pytest.raises(aio.AioRpcError) as raised:
        await stub.ScaleUp(request)
    return raised.value


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (scale_request("t1", 11), "worker_count: 11 is over MAX_WORKERS_PER_TASK=10"),
        (scale_request("t1", 0), "worker_count: 0 must be at least 1"),
        (scale_request("", 1), "task_id: is required"),
        (scale_request("Bad Task!", 1), "task_id: 'Bad Task!' must be at most 63 characters"),
    ],
)
async def test_bad_scale_up_is_invalid_argument_and_creates_nothing(
    stub: Stub, ottoscaler: Running, request_: pb.ScaleRequest, expected: str
) -> None:
    error = await refused(stub, request_)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (error.details() or "")
    assert await ottoscaler.runtime.list({}) == []


async def test_passing_max_workers_is_resource_exhausted_but_repeats_are_answered(
    stub: Stub, ottoscaler: Running
) -> None:
    tasks = [new_task() for _ in range(3)]
    for task in tasks:  # MAX_WORKERS=30: three full tasks fill it
        await scale_up(stub, task, 10, f"fill-{task}", mock_duration="600")
    error = await refused(stub, scale_request(new_task(), 1))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MAX_WORKERS=30" in (error.details() or "")
    assert len(await ottoscaler.runtime.list({})) == 30
    again = await scale_up(stub, tasks[0], 10, f"fill-{tasks[0]}", mock_duration="600")
    assert again.status == pb.ScaleResponse.ALREADY_PROCESSED
