"""ScaleUp over real gRPC and Temporal, mock runtime: every answer status, idempotency,
concurrency."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus

from gateway.app import Running
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, pool_closed, scale_up, status

LONG = "600"  # seconds: workers that outlive the test


async def workers_of(ottoscaler: Running, task_id: str) -> list[str]:
    return sorted(w.name for w in await ottoscaler.runtime.list({"task-id": task_id}))


async def test_success_creates_exactly_the_workers_it_names(
    stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    answer = await scale_up(stub, task, 3, mock_duration=LONG)
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    assert answer.processed_count == 3
    assert sorted(answer.worker_pod_names) == await workers_of(ottoscaler, task)
    assert answer.started_at.endswith("Z") and answer.completed_at.endswith("Z")
    assert answer.started_at <= answer.completed_at
    # The status cache already knows them when the answer arrives.
    seen = await status(stub, task)
    assert (seen.total_count, seen.running_count) == (3, 3)
    first = seen.workers[0]
    assert (first.task_id, first.status) == (task, "Running")
    assert first.labels["managed-by"] == "ottoscaler"
    assert first.created_at.endswith("Z") and first.node_name and first.pod_ip


async def test_past_the_task_limit_only_some_are_created(stub: Stub, ottoscaler: Running) -> None:
    task = new_task()
    await scale_up(stub, task, 6, mock_duration=LONG)
    answer = await scale_up(stub, task, 6, mock_duration=LONG)
    assert answer.status == pb.ScaleResponse.PARTIAL_SUCCESS
    assert answer.processed_count == 4
    assert "created 4 of 6" in answer.message
    assert "MAX_WORKERS_PER_TASK=10 reached" in answer.message
    assert len(await workers_of(ottoscaler, task)) == 10


async def test_nothing_created_is_failed_with_the_reason_and_the_pool_ends(
    stub: Stub, ottoscaler: Running, client: Client
) -> None:
    task = new_task()
    answer = await scale_up(stub, task, 2, mock_duration="soon")
    assert answer.status == pb.ScaleResponse.FAILED
    assert answer.processed_count == 0 and not answer.worker_pod_names
    assert "mock.duration 'soon' is not float 0..604800" in answer.message
    assert await workers_of(ottoscaler, task) == []
    assert await pool_closed(client, task) is WorkflowExecutionStatus.COMPLETED


async def test_a_repeated_request_id_answers_already_processed_and_creates_nothing(
    stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    first = await scale_up(stub, task, 3, "req-1", mock_duration=LONG)
    again = await scale_up(stub, task, 3, "req-1", mock_duration=LONG)
    assert again.status == pb.ScaleResponse.ALREADY_PROCESSED
    assert list(again.worker_pod_names) == list(first.worker_pod_names)
    assert again.processed_count == 3
    assert len(await workers_of(ottoscaler, task)) == 3
    other = await scale_up(stub, task, 1, "req-2", mock_duration=LONG)
    assert other.status == pb.ScaleResponse.SUCCESS
    assert len(await workers_of(ottoscaler, task)) == 4


async def test_concurrent_repeats_create_once(stub: Stub, ottoscaler: Running) -> None:
    task = new_task()
    answers = await asyncio.gather(
        *(scale_up(stub, task, 3, "req-same", mock_duration=LONG) for _ in range(4))
    )
    statuses = [a.status for a in answers]
    assert statuses.count(pb.ScaleResponse.SUCCESS) == 1
    assert statuses.count(pb.ScaleResponse.ALREADY_PROCESSED) == 3
    assert len({tuple(a.worker_pod_names) for a in answers}) == 1
    assert len(await workers_of(ottoscaler, task)) == 3


async def test_concurrent_scale_ups_create_what_was_asked_in_total(
    stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    answers = await asyncio.gather(*(scale_up(stub, task, 2, mock_duration=LONG) for _ in range(4)))
    assert all(a.status == pb.ScaleResponse.SUCCESS for a in answers)
    names = [name for a in answers for name in a.worker_pod_names]
    assert len(names) == len(set(names)) == 8
    assert sorted(names) == await workers_of(ottoscaler, task)


async def test_concurrent_scale_ups_past_the_limit_stop_exactly_at_it(
    stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    answers = await asyncio.gather(*(scale_up(stub, task, 4, mock_duration=LONG) for _ in range(4)))
    assert sum(a.processed_count for a in answers) == 10
    assert len(await workers_of(ottoscaler, task)) == 10
    short = [a for a in answers if a.status != pb.ScaleResponse.SUCCESS]
    assert short and all("MAX_WORKERS_PER_TASK=10" in a.message for a in short)
