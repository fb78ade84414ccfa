"""The reaper's deletions and failed sweeps, counted from its activity's result on the
Temporal worker of this replica (no Temporal action added)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from workflows.reaper.workflow import REAP_ORPHANS, ReapResult


class ReaperCounts(Interceptor):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.deleted = Counter(
            "ottoscaler_reaper_deleted",
            "What the orphan reaper deleted: workers, and secrets no open run uses.",
            ["kind"],
            registry=registry,
        )
        self.failed = Counter(
            "ottoscaler_reaper_sweeps_failed",
            "Reaper sweeps that failed (each try; the schedule sweeps again later).",
            registry=registry,
        )

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Counting(next, self)


class _Counting(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, counts: ReaperCounts) -> None:
        super().__init__(next)
        self._counts = counts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if activity.info().activity_type != REAP_ORPHANS:
            return await super().execute_activity(input)
        try:
            result = await super().execute_activity(input)
        except Exception:
            self._counts.failed.inc()
            raise
        if isinstance(result, ReapResult):
            self._counts.deleted.labels(kind="workers").inc(len(result.deleted))
            self._counts.deleted.labels(kind="secrets").inc(len(result.secrets_deleted))
        return result
