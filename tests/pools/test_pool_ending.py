"""A ScaleUp that arrives while its pool is ending waits for it, then starts a new pool."""

from __future__ import annotations

import asyncio
import logging

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from activities.capacity import Unlimited
from activities.runtimes.mock.runtime import MockRuntime
from gateway.pools.service import PoolService
from gateway.pools.status import WorkerStatusCache
from gateway.settings import RuntimeKind, Settings
from gateway.worker import create_worker
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import new_task, pool_closed, scale_request
from tests.signing import SIGNER, admission
from tests.waiting import eventually


class HeldDeletes(MockRuntime):
    """Deletes wait until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.deleting = asyncio.Event()

    async def delete(self, name: str) -> None:
        self.deleting.set()
        await self.release.wait()
        await super().delete(name)


async def test_a_scale_up_during_the_end_of_its_pool_lands_in_a_new_pool(
    client: Client, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.pools.client")
    runtime = HeldDeletes()
    statuses = WorkerStatusCache(runtime)
    pools = PoolService(
        client,
        Settings(temporal_task_queue=task_queue, ottoscaler_runtime=RuntimeKind.MOCK),
        statuses,
        Unlimited(),
        SIGNER,
    )
    task = new_task()
    async with statuses.following(), create_worker(client, task_queue, runtime, admission()):
        old = await pools.scale_up(scale_request(task, 1, mock_duration="600"))
        ending = asyncio.create_task(
            pools.scale_down(pb.ScaleRequest(task_id=task, worker_count=0))
        )
        await asyncio.wait_for(runtime.deleting.wait(), 10)
        arriving = asyncio.create_task(pools.scale_up(scale_request(task, 2, mock_duration="600")))

        async def refused() -> bool:
            return "waits for its ending pool" in caplog.text

        await eventually(refused)
        runtime.release.set()
        assert list((await ending).worker_pod_names) == list(old.worker_pod_names)
        new = await asyncio.wait_for(arriving, 15)
        assert new.status == pb.ScaleResponse.SUCCESS, new.message
        assert not set(new.worker_pod_names) & set(old.worker_pod_names)
        assert len(await runtime.list({"task-id": task})) == 2
        await pools.scale_down(pb.ScaleRequest(task_id=task, worker_count=0))
    assert await pool_closed(client, task) is WorkflowExecutionStatus.COMPLETED
