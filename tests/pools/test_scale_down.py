"""ScaleDown: pending before running, newest first; 0 ends the pool; '' means every pool."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from temporalio.client import Client, WorkflowExecutionStatus

from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, pool_closed, scale_down, scale_up, status

LONG = "600"


async def test_pending_go_before_running_and_newest_first(stub: Stub) -> None:
    task = new_task()
    # The older workers stay pending, the newer ones run: age alone would pick wrongly.
    pending = (
        await scale_up(stub, task, 2, mock_pending=LONG, mock_duration=LONG)
    ).worker_pod_names
    running = (await scale_up(stub, task, 3, mock_duration=LONG)).worker_pod_names
    answer = await scale_down(stub, task, 1)
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    assert list(answer.worker_pod_names) == [pending[1], pending[0], running[2], running[1]]
    assert answer.processed_count == 4
    left = await status(stub, task)
    assert [w.pod_name for w in left.workers] == [running[0]]


async def test_zero_ends_the_pool_and_the_next_scale_up_starts_a_new_one(
    stub: Stub, client: Client
) -> None:
    task = new_task()
    first = await scale_up(stub, task, 3, mock_duration=LONG)
    answer = await scale_down(stub, task, 0)
    assert sorted(answer.worker_pod_names) == sorted(first.worker_pod_names)
    assert await pool_closed(client, task) is WorkflowExecutionStatus.COMPLETED
    assert (await status(stub, task)).total_count == 0
    again = await scale_up(stub, task, 1, mock_duration=LONG)
    assert again.status == pb.ScaleResponse.SUCCESS
    assert again.worker_pod_names[0] not in first.worker_pod_names


async def test_an_empty_task_id_scales_every_pool(stub: Stub) -> None:
    first, second = new_task(), new_task()
    await scale_up(stub, first, 3, mock_duration=LONG)
    await scale_up(stub, second, 2, mock_duration=LONG)
    answer = await scale_down(stub, "", 1)
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    assert answer.processed_count == 3
    assert (await status(stub, first)).running_count == 1
    assert (await status(stub, second)).running_count == 1


async def test_a_task_without_pool_has_nothing_to_delete(stub: Stub) -> None:
    answer = await scale_down(stub, new_task(), 0)
    assert answer.status == pb.ScaleResponse.SUCCESS
    assert answer.processed_count == 0


async def test_a_negative_target_is_invalid_argument(stub: Stub) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await scale_down(stub, new_task(), -1)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "worker_count: -1 is negative" in (raised.value.details() or "")
