"""OttoscalerService's worker-pool RPCs: ScaleUp, ScaleDown, GetWorkerStatus.

A thin adapter: validate (INVALID_ARGUMENT naming the field and the limit), admit against
MAX_WORKERS (RESOURCE_EXHAUSTED; the room pipelines share, activities/capacity/), then ask
the task's WorkerPoolWorkflow. Worker status comes from the WorkerStatusCache, never from a
list call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from temporalio.client import Client

from activities.admission import SpecSigner
from activities.capacity import CapacityUnknown, NoRoom, Reservation, WorkerCapacity
from gateway.errors import ResourceExhausted, Unavailable
from gateway.pools.client import PoolClient
from gateway.pools.status import WorkerStatusCache
from gateway.pools.wire import agent_command, scale_result_to_wire, scale_up_from_wire
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.base.checks import Limits, check_map
from workflows.pool.models import PoolSettings, ScaleResult, ScaleUpRequest
from workflows.pool.plan import merge_results, scale_down_result
from workflows.pool.validation import validate_scale_down, validate_scale_up


class PoolService:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        statuses: WorkerStatusCache,
        capacity: WorkerCapacity,
        signer: SpecSigner,
    ) -> None:
        self.settings = settings
        self.statuses = statuses
        self.capacity = capacity
        self.signer = signer
        self.pools = PoolClient(
            client,
            settings.temporal_task_queue,
            PoolSettings(
                worker_ttl_seconds=settings.worker_ttl_seconds,
                max_workers_per_task=settings.max_workers_per_task,
                notify=bool(settings.otto_handler_addr),
            ),
        )
        self.command = agent_command(settings)

    async def scale_up(self, request: pb.ScaleRequest) -> pb.ScaleResponse:
        check_map("metadata", request.metadata, Limits())
        wanted = scale_up_from_wire(request, self.settings.otto_agent_image, self.command)
        validate_scale_up(wanted, self.settings.max_workers_per_task)
        async with self._admitted(wanted) as room:
            result = await self.pools.scale_up(self.signer.signed_scale_up(wanted))
            if room is not None:  # its workers count as live once the runtime reports them
                await room.release(created=result.worker_names)
        return scale_result_to_wire(result)

    @asynccontextmanager
    async def _admitted(self, wanted: ScaleUpRequest) -> AsyncIterator[Reservation | None]:
        """Room for the ScaleUp's workers while the pool creates them (None for a repeat of
        an answered one, which creates nothing). Refuses one that would pass MAX_WORKERS."""
        room: Reservation | None = None
        try:
            room = await self.capacity.take(wanted.worker_count)
        except CapacityUnknown as err:
            raise Unavailable(str(err)) from None
        except NoRoom as err:
            repeat = wanted.request_id and await self.pools.answered(
                wanted.task_id, wanted.request_id
            )
            if not repeat:
                raise ResourceExhausted(
                    f"worker_count: {wanted.worker_count} more workers would pass "
                    f"MAX_WORKERS={err.limit} ({err.in_use} are pending, running or being created)"
                ) from None
        try:
            yield room
        finally:
            if room is not None:
                await room.release()

    async def scale_down(self, request: pb.ScaleRequest) -> pb.ScaleResponse:
        """An empty task_id applies the target to every pool."""
        target = request.worker_count
        validate_scale_down(request.task_id, target)
        started = datetime.now(UTC)
        if request.task_id:
            result = await self.pools.scale_down(request.task_id, target)
            if result is None:  # no pool: nothing to delete, as the old service answered
                result = scale_down_result(request.task_id, [], [], 0, started, datetime.now(UTC))
            return scale_result_to_wire(result)
        tasks = sorted(self.statuses.pool_task_ids() | await self.pools.running_pools())
        results = await asyncio.gather(*(self.pools.scale_down(task, target) for task in tasks))
        found: list[ScaleResult] = [r for r in results if r is not None]
        return scale_result_to_wire(merge_results(found, target, started, datetime.now(UTC)))

    async def worker_status(self, request: pb.WorkerStatusRequest) -> pb.WorkerStatusResponse:
        return await self.statuses.status(
            request.task_id, request.worker_pod_name, request.status_filter
        )
