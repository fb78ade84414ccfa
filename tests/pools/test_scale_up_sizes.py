"""ScaleUp sizes that reach Temporal are bounded at submit; the pool keeps serving."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, scale_request, scale_up


def big_config(total: int) -> dict[str, str]:
    """Values of 30,000 bytes, under the 32 KiB a value may hold."""
    return {f"KEY_{n}": "x" * 30_000 for n in range(total // 30_000)}


async def test_a_large_build_config_is_invalid_argument_and_the_pool_keeps_serving(
    stub: Stub,
) -> None:
    task = new_task()
    first = await scale_up(stub, task, 1, mock_duration="600")
    assert first.status == pb.ScaleResponse.SUCCESS
    big = scale_request(task, 1)
    big.build_config.update(big_config(1_500_000))
    with pytest.raises(aio.AioRpcError) as raised:
        await asyncio.wait_for(stub.ScaleUp(big), 60)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert "build_config: with worker_count=1" in (raised.value.details() or "")
    assert "at most 1048576" in (raised.value.details() or "")
    again = await asyncio.wait_for(scale_up(stub, task, 1, mock_duration="600"), 60)
    assert again.status == pb.ScaleResponse.SUCCESS, again.message


async def test_what_a_pool_carries_is_bounded_and_it_keeps_serving(stub: Stub) -> None:
    """Each ScaleUp fits alone; together they would pass what the pool may carry into its
    next run, so the pool creates what fits and says why for the rest."""
    task = new_task()
    answers = []
    for _ in range(8):
        heavy = scale_request(task, 1, mock_duration="600")
        heavy.build_config.update(big_config(300_000))
        answers.append(await asyncio.wait_for(stub.ScaleUp(heavy), 60))
    assert answers[0].status == pb.ScaleResponse.SUCCESS, answers[0].message
    refused = [a for a in answers if a.status != pb.ScaleResponse.SUCCESS]
    assert refused, "eight heavy ScaleUps all fitted one pool"
    for answer in refused:
        assert answer.status == pb.ScaleResponse.FAILED
        assert "build_config: a pool carries at most 1048576 bytes" in answer.message
    light = await asyncio.wait_for(scale_up(stub, task, 2, mock_duration="600"), 60)
    assert light.status == pb.ScaleResponse.SUCCESS, light.message
