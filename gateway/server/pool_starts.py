"""Pool workers' start latency (ottoscaler_worker_start_seconds, by runtime), from the
activity that awaits each one's start on this replica's Temporal worker: once per worker
that started, no Temporal action added. Pipeline workers' is CountingRuntime.wait's."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from gateway.server.metrics import Metrics
from workflows.pool.calls import AWAIT_WORKER_STARTED
from workflows.workers.spec import WorkerInfo


class PoolWorkerStarts(Interceptor):
    def __init__(self, metrics: Metrics, runtime: str) -> None:
        self.metrics = metrics
        self.runtime = runtime

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Timing(next, self)


class _Timing(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, starts: PoolWorkerStarts) -> None:
        super().__init__(next)
        self._starts = starts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        # A worker still pending at its deadline has no start: nothing to time.
        if activity.info().activity_type == AWAIT_WORKER_STARTED and isinstance(result, WorkerInfo):
            starts = self._starts
            starts.metrics.worker_started(starts.runtime, result.created_at, result.started_at)
        return result
