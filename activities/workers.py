"""The worker activities: create, await and delete one worker through the runtime.

RuntimeFailure becomes ApplicationError here, with non_retryable chosen on purpose:
transient infrastructure errors are retried by the activity RetryPolicy (never a stage
attempt), permanent ones fail the shard at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.runtime import RuntimeFailure, WorkerRuntime
from workflows.worker_calls import AWAIT_WORKER, CREATE_WORKER, DELETE_WORKER
from workflows.workers import WorkerInfo, WorkerOutcome, WorkerSpec

T = TypeVar("T")
HEARTBEAT_EVERY_SECONDS = 5.0


async def runtime_boundary(call: Awaitable[T]) -> T:
    """Turns a RuntimeFailure into an ApplicationError whose non_retryable is deliberate."""
    try:
        return await call
    except RuntimeFailure as err:
        raise ApplicationError(
            str(err), type=type(err).__name__, non_retryable=not err.retryable
        ) from err


async def heartbeating(call: Awaitable[T]) -> T:
    """Awaits call while heartbeating, so a crashed Ottoscaler is noticed in seconds."""
    waiting = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return waiting.result()
            activity.heartbeat()
    finally:
        waiting.cancel()


class WorkerActivities:
    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    @activity.defn(name=CREATE_WORKER)
    async def create_worker(self, spec: WorkerSpec) -> WorkerInfo:
        return await runtime_boundary(self.runtime.create(spec))

    @activity.defn(name=AWAIT_WORKER)
    async def await_worker(self, spec: WorkerSpec) -> WorkerOutcome:
        return await heartbeating(runtime_boundary(self.runtime.wait(spec)))

    @activity.defn(name=DELETE_WORKER)
    async def delete_worker(self, name: str) -> None:
        await runtime_boundary(self.runtime.delete(name))

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.create_worker, self.await_worker, self.delete_worker]
