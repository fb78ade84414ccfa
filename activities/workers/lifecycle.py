"""Awaiting and deleting one worker through the runtime: what worker pools follow their
workers with, and how a pipeline deletes a worker whose run_worker gave up or was
cancelled.

RuntimeFailure becomes ApplicationError here, with non_retryable chosen on purpose:
transient infrastructure errors are retried by the activity RetryPolicy (never a stage
attempt), permanent ones fail the shard at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.capacity import WorkerCapacity
from activities.runtimes.boundary import heartbeating, runtime_boundary
from activities.runtimes.protocol import WorkerRuntime
from workflows.workers.calls import AWAIT_WORKER, DELETE_SECRETS, DELETE_WORKER
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import Labels, WorkerOutcome, WorkerSpec


class WorkerActivities:
    def __init__(self, runtime: WorkerRuntime, capacity: WorkerCapacity) -> None:
        self.runtime = runtime
        self.capacity = capacity

    @activity.defn(name=AWAIT_WORKER)
    async def await_worker(self, spec: WorkerSpec) -> WorkerOutcome:
        return await heartbeating(runtime_boundary(self.runtime.wait(spec)))

    @activity.defn(name=DELETE_WORKER)
    async def delete_worker(self, name: str) -> None:
        # A run_worker still waiting for room for it (its stage was cancelled) gives up,
        # and its room is free once the runtime reports the worker gone.
        await self.capacity.abort(name)
        await runtime_boundary(self.runtime.delete(name))

    @activity.defn(name=DELETE_SECRETS)
    async def delete_secrets(self, store: str) -> None:
        """Deletes the run's store, and only a store of the calling pipeline's own: a
        workflow started around the gateway names whatever store it likes."""
        entries = await runtime_boundary(self.runtime.secrets.list())
        owner = next(
            (e.labels.get(Labels.PIPELINE_ID, "") for e in entries if e.name == store), None
        )
        if owner is None:
            return  # gone already
        caller = activity.info().workflow_id
        if caller != pipeline_workflow_id(owner):
            raise ApplicationError(
                f"secrets store {store!r} belongs to pipeline {owner!r}, not to {caller!r}",
                type="ForeignSecrets",
                non_retryable=True,
            )
        await runtime_boundary(self.runtime.secrets.delete(store))

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.await_worker, self.delete_worker, self.delete_secrets]
