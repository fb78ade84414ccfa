"""The pool's own worker activities: create a ScaleUp's workers together, and await a
worker's start through the runtime's change feed.

A batch is created only when the gateway signed it, and only as far as the task's
workers stay within this process's MAX_WORKERS_PER_TASK (activities/admission.py): a
pool started around the gateway cannot raise its own limit.

The pool learns when a pending worker runs (for the RUNNING notice and for ScaleDown,
which takes pending workers first) without polling: the feed says so the moment it happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any
from weakref import WeakValueDictionary

from temporalio import activity

from activities.admission import Admission
from activities.runtimes.boundary import heartbeating, runtime_boundary
from activities.runtimes.protocol import (
    RuntimeFailure,
    WorkerEventKind,
    WorkerNotFound,
    WorkerRuntime,
)
from workflows.pool.calls import AWAIT_WORKER_STARTED, CREATE_WORKERS
from workflows.pool.models import Created
from workflows.pool.plan import ACTIVE
from workflows.workers.spec import MANAGED_BY, Labels, WorkerInfo, WorkerPhase, WorkerSpec


class PoolActivities:
    def __init__(self, runtime: WorkerRuntime, admission: Admission) -> None:
        self.runtime = runtime
        self.admission = admission
        # One count-then-create at a time per task, held while a batch is created.
        self._task_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    @activity.defn(name=CREATE_WORKERS)
    async def create_workers(self, specs: list[WorkerSpec]) -> list[Created]:
        """A worker the runtime refuses for good is reported in its place, and so is one
        past this process's MAX_WORKERS_PER_TASK. Any transient failure fails the call for
        Temporal to retry: creates adopt what already exists."""
        workflow_id = activity.info().workflow_id or ""
        admitted = [self.admission.admit(spec, workflow_id) for spec in specs]
        return await runtime_boundary(self._create_all(admitted))

    async def _create_all(self, specs: list[WorkerSpec]) -> list[Created]:
        task_id = specs[0].labels[Labels.TASK_ID] if specs else ""
        lock = self._task_locks.setdefault(task_id, asyncio.Lock())
        async with lock:
            room = await self._room(task_id, specs)
            results = await asyncio.gather(
                *(self._create(s) for s in specs[:room]), return_exceptions=True
            )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        created = [result for result in results if isinstance(result, Created)]
        limit = self.admission.max_workers_per_task
        refused = Created(error=f"this worker's MAX_WORKERS_PER_TASK={limit} reached")
        return created + [refused] * (len(specs) - len(created))

    async def _room(self, task_id: str, specs: list[WorkerSpec]) -> int:
        """How many of specs fit beside the task's other pool workers under this process's
        own limit, whatever the pool's input said: a retried batch's own do not count."""
        names = {spec.name for spec in specs}
        listed = await self.runtime.list({Labels.MANAGED_BY: MANAGED_BY, Labels.TASK_ID: task_id})
        others = sum(
            1
            for w in listed
            if Labels.POOL_INDEX in w.labels and w.phase in ACTIVE and w.name not in names
        )
        return max(0, self.admission.max_workers_per_task - others)

    async def _create(self, spec: WorkerSpec) -> Created:
        try:
            return Created(info=await self.runtime.create(spec))
        except RuntimeFailure as err:
            if err.retryable:
                raise
            return Created(error=str(err))

    @activity.defn(name=AWAIT_WORKER_STARTED)
    async def await_worker_started(self, spec: WorkerSpec) -> WorkerInfo:
        """The worker once it left PENDING, or as it is when its pending deadline passed."""
        try:
            async with asyncio.timeout(spec.pending_timeout_seconds or None):
                return await heartbeating(runtime_boundary(self._first_start(spec)))
        except TimeoutError:
            # Still pending: awaiting its end applies the pending deadline and reports it.
            return WorkerInfo(name=spec.name, phase=WorkerPhase.PENDING, labels=spec.labels)

    async def _first_start(self, spec: WorkerSpec) -> WorkerInfo:
        async with aclosing(self.runtime.watch(spec.labels)) as events:
            async for event in events:
                mine = [w for w in event.workers if w.name == spec.name]
                gone = event.kind is WorkerEventKind.DELETE and mine
                if gone or (event.kind is WorkerEventKind.SNAPSHOT and not mine):
                    raise WorkerNotFound(f"worker {spec.name!r} does not exist (any more)")
                if mine and mine[0].phase is not WorkerPhase.PENDING:
                    return mine[0]
        raise WorkerNotFound(f"the change feed ended before worker {spec.name!r} started")

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.create_workers, self.await_worker_started]
