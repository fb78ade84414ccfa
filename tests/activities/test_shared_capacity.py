"""MAX_WORKERS across replicas: two SharedCapacity objects on one PostgreSQL, each
mirroring one cluster's feed (here one mock runtime, as every replica sees all pods on
Kubernetes), never give out more room than the limit together; a replica that dies
gives its claims back at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from activities.capacity import NoRoom
from activities.capacity.shared import SharedCapacity
from activities.database.connect import database
from activities.runtimes.mock.runtime import MockRuntime
from tests.waiting import eventually
from workflows.workers.spec import MANAGED_BY, Labels, WorkerSpec

LIMIT = 4


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[SharedCapacity, SharedCapacity]]:
    runtime = MockRuntime()  # the one cluster both replicas watch
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(database(database_url))  # the schema
        first = await stack.enter_async_context(
            SharedCapacity(LIMIT, database_url).following(runtime)
        )
        second = await stack.enter_async_context(
            SharedCapacity(LIMIT, database_url).following(runtime)
        )
        yield first, second


async def test_replicas_share_the_limit(replicas: tuple[SharedCapacity, SharedCapacity]) -> None:
    first, second = replicas
    batch = await first.take(3)
    with pytest.raises(NoRoom, match="MAX_WORKERS=4 reached \\(3 in use\\)"):
        await second.take(2)
    worker = await second.wait("p-build-0")  # the last room
    with pytest.raises(NoRoom):
        await first.take(1)
    await batch.release()
    await second.take(3)
    await worker.release()


async def test_a_waiting_worker_gets_room_another_replica_gives_back(
    replicas: tuple[SharedCapacity, SharedCapacity],
) -> None:
    first, second = replicas
    held = await first.take(LIMIT)
    waiting = asyncio.create_task(second.wait("p-test-0"))
    await eventually(lambda: waits(second, "p-test-0"))  # it looked and found no room
    assert not waiting.done()
    await held.release()
    granted = await asyncio.wait_for(waiting, 5)  # woken by the release's notice
    await granted.release()


async def waits(capacity: SharedCapacity, name: str) -> bool:
    return name in capacity.waiting


async def test_a_dead_replicas_claims_count_for_nothing(
    replicas: tuple[SharedCapacity, SharedCapacity],
) -> None:
    first, second = replicas
    await first.take(LIMIT)
    with pytest.raises(NoRoom):
        await second.take(1)
    await first.close()  # as when its process dies: the connection goes, nothing released
    await second.take(LIMIT)


async def test_a_live_worker_counts_once_however_many_claim_it(database_url: str) -> None:
    runtime = MockRuntime()
    async with database(database_url), SharedCapacity(2, database_url).following(runtime) as cap:
        await runtime.create(
            WorkerSpec(
                name="w", labels={Labels.MANAGED_BY: MANAGED_BY}, config={"mock.duration": "60"}
            )
        )
        claim = await cap.wait("w")  # a retried run_worker finds its own worker
        await cap.take(1)  # still room for one: w counts once
        with pytest.raises(NoRoom):
            await cap.take(1)
        await claim.release()
        await runtime.close()
