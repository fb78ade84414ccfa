"""The pool's own worker activities: create a ScaleUp's workers together, and await a
worker's start through the runtime's change feed.

The pool learns when a pending worker runs (for the RUNNING notice and for ScaleDown,
which takes pending workers first) without polling: the feed says so the moment it happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from temporalio import activity

from activities.logs.credentials import with_agent_credential
from activities.runtimes.boundary import heartbeating, runtime_boundary
from activities.runtimes.protocol import (
    RuntimeFailure,
    WorkerEventKind,
    WorkerNotFound,
    WorkerRuntime,
)
from workflows.pool.calls import AWAIT_WORKER_STARTED, CREATE_WORKERS
from workflows.pool.models import Created
from workflows.workers.spec import WorkerInfo, WorkerPhase, WorkerSpec


class PoolActivities:
    def __init__(self, runtime: WorkerRuntime, signing_key: bytes) -> None:
        self.runtime = runtime
        self.signing_key = signing_key

    @activity.defn(name=CREATE_WORKERS)
    async def create_workers(self, specs: list[WorkerSpec]) -> list[Created]:
        """A worker the runtime refuses for good is reported in its place. Any transient
        failure fails the call for Temporal to retry: creates adopt what already exists."""
        return await runtime_boundary(self._create_all(specs))

    async def _create_all(self, specs: list[WorkerSpec]) -> list[Created]:
        results = await asyncio.gather(*(self._create(s) for s in specs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [result for result in results if isinstance(result, Created)]

    async def _create(self, spec: WorkerSpec) -> Created:
        try:
            credentialed = with_agent_credential(spec, self.signing_key)
            return Created(info=await self.runtime.create(credentialed))
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
