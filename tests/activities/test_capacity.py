"""The capacity ledger: live workers from the mock runtime's feed, plus reservations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from activities.capacity import NoRoom, Reservation, RoomAborted, WorkerLedger
from activities.runtimes.mock.runtime import MockRuntime
from tests.waiting import eventually
from workflows.workers.spec import MANAGED_BY, Labels, WorkerSpec

LIMIT = 2


def managed(name: str, duration: str = "600") -> WorkerSpec:
    return WorkerSpec(
        name=name, labels={Labels.MANAGED_BY: MANAGED_BY}, config={"mock.duration": duration}
    )


@pytest.fixture
def runtime() -> MockRuntime:
    return MockRuntime()


@pytest.fixture
async def ledger(runtime: MockRuntime) -> AsyncIterator[WorkerLedger]:
    async with WorkerLedger(LIMIT).following(runtime) as following:
        yield following


async def filled(ledger: WorkerLedger) -> Reservation:
    """Pipeline workers "a" and "b" hold all the room; a's reservation."""
    first = await ledger.wait("a")
    await ledger.wait("b")
    return first


async def queued(ledger: WorkerLedger, *names: str) -> list[asyncio.Task[Reservation]]:
    """Waits for these names behind a full ledger."""
    tasks = [asyncio.create_task(ledger.wait(name)) for name in names]
    await asyncio.sleep(0)  # each runs up to its wait in the queue
    assert not any(task.done() for task in tasks)
    return tasks


async def in_use(ledger: WorkerLedger, count: int) -> None:
    async def reached() -> bool:
        return ledger.in_use() == count

    await eventually(reached)


async def test_live_workers_and_reservations_share_the_limit(
    runtime: MockRuntime, ledger: WorkerLedger
) -> None:
    await runtime.create(managed("pool-0"))
    await in_use(ledger, 1)
    held = await ledger.wait("pipe-0")
    with pytest.raises(NoRoom) as refused:
        await ledger.take(1)
    assert (refused.value.limit, refused.value.in_use) == (LIMIT, 2)
    await held.release()
    batch = await ledger.take(1)
    assert ledger.in_use() == 2
    await batch.release()
    assert ledger.in_use() == 1


async def test_waiters_get_room_in_arrival_order_before_any_scale_up(
    ledger: WorkerLedger,
) -> None:
    first = await filled(ledger)
    c, d = await queued(ledger, "c", "d")
    await first.release()
    await asyncio.wait_for(c, 5)
    assert not d.done()
    with pytest.raises(NoRoom):  # the room freed went to c, and d is next
        await ledger.take(1)
    d.cancel()


async def test_a_worker_already_live_takes_no_more_room(
    runtime: MockRuntime, ledger: WorkerLedger
) -> None:
    await runtime.create(managed("w-0"))
    await runtime.create(managed("w-1"))
    await in_use(ledger, 2)
    again = await asyncio.wait_for(ledger.wait("w-0"), 5)  # a retried run_worker's own
    assert ledger.in_use() == 2
    await again.release()


async def test_abort_ends_a_wait_and_frees_the_workers_room(ledger: WorkerLedger) -> None:
    await filled(ledger)
    [c] = await queued(ledger, "c")
    await ledger.abort("c")
    with pytest.raises(RoomAborted):
        await c
    with pytest.raises(RoomAborted):  # a run_worker that starts after the delete
        await ledger.wait("c")
    await ledger.abort("a")  # deleted before its activity heard of the cancel
    assert ledger.in_use() == 1


async def test_a_cancelled_waiter_neither_keeps_room_nor_blocks_the_queue(
    ledger: WorkerLedger,
) -> None:
    first = await filled(ledger)
    gone, next_ = await queued(ledger, "c", "d")
    gone.cancel()
    await first.release()
    await asyncio.wait_for(next_, 5)
    assert ledger.in_use() == LIMIT


async def test_a_scale_ups_workers_count_until_the_feed_reports_them(
    runtime: MockRuntime, ledger: WorkerLedger
) -> None:
    batch = await ledger.take(2)
    await batch.release(created=["p-0", "p-1"])  # made, not reported yet
    assert ledger.in_use() == 2
    await runtime.create(managed("p-0", duration="0"))
    await runtime.wait(managed("p-0", duration="0"))  # reported, then ended
    await in_use(ledger, 1)
