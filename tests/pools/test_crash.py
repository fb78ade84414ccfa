"""The Temporal worker dies after creating a pool's workers but before the ScaleUp answered.

The runtime outlives the worker process (as pods outlive Ottoscaler in a cluster). A new
worker replays the pool, the create activities are retried with the same deterministic
names and adopt what exists: the ScaleUp still answers, and nothing is created twice.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from activities.capacity import WorkerLedger
from activities.runtimes.mock.runtime import MockRuntime
from gateway.pools.service import PoolService
from gateway.pools.status import WorkerStatusCache
from gateway.settings import RuntimeKind, Settings
from gateway.worker import create_worker
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import new_task, scale_request
from tests.signing import SIGNER, admission
from workflows.workers.spec import WorkerInfo, WorkerSpec

WORKERS = 3


class StallingRuntime(MockRuntime):
    """Creates each worker, then, while `stall` is set, never returns from create."""

    def __init__(self) -> None:
        super().__init__()
        self.stall = True
        self.created: list[str] = []
        self.calls = 0
        self.all_created = asyncio.Event()

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        self.calls += 1
        known = await self.list({"task-id": spec.labels["task-id"]})
        info = await super().create(spec)
        if spec.name not in {w.name for w in known}:
            self.created.append(spec.name)
        if len(self.created) == WORKERS:
            self.all_created.set()
        if self.stall:
            await asyncio.Event().wait()  # the process "dies" here: see shutdown below
        return info


async def test_a_scale_up_survives_a_worker_crash_without_extra_workers(
    client: Client, task_queue: str
) -> None:
    settings = Settings(
        temporal_task_queue=task_queue, ottoscaler_runtime=RuntimeKind.MOCK, max_workers=30
    )
    runtime = StallingRuntime()
    statuses = WorkerStatusCache(runtime)
    capacity = WorkerLedger(settings.max_workers)
    pools = PoolService(client, settings, statuses, capacity, SIGNER)
    task = new_task()
    request = scale_request(task, WORKERS, "req-crash", mock_duration="600")
    async with statuses.following(), capacity.following(runtime):
        first = create_worker(client, task_queue, runtime, admission())
        running = asyncio.create_task(first.run())
        call = asyncio.create_task(pools.scale_up(request))
        await asyncio.wait_for(runtime.all_created.wait(), 10)
        await first.shutdown()
        await running
        assert not call.done(), "the ScaleUp cannot have answered: its creates never returned"

        runtime.stall = False
        async with create_worker(client, task_queue, runtime, admission()):
            answer = await asyncio.wait_for(call, 30)
            assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
            assert sorted(answer.worker_pod_names) == sorted(runtime.created)
            assert runtime.calls > WORKERS, "the creates ran again and adopted their workers"
            listed = await runtime.list({"task-id": task})
            assert sorted(w.name for w in listed) == sorted(runtime.created)
            again = await pools.scale_up(request)
            assert again.status == pb.ScaleResponse.ALREADY_PROCESSED
            assert list(again.worker_pod_names) == list(answer.worker_pod_names)
            assert len(await runtime.list({"task-id": task})) == WORKERS
            await pools.scale_down(pb.ScaleRequest(task_id=task, worker_count=0))
