"""ReaperWorkflow: one sweep that deletes orphaned workers (workflows/reaper/orphans.py decides).

The Temporal Schedule `ottoscaler-reaper-<task queue>` (gateway/reaper/schedule.py)
starts one every REAPER_INTERVAL_SECONDS. A sweep is a single activity: listing workers,
asking Temporal about their owners and deleting orphans are all I/O.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.base.model import Frozen
    from workflows.workers.calls import NON_RETRYABLE

REAP_ORPHANS = "reap_orphans"
# A sweep that keeps failing waits for the next scheduled one rather than retry for long.
REAP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    maximum_attempts=3,
    non_retryable_error_types=NON_RETRYABLE,
)
REAP_TIMEOUT = timedelta(minutes=5)


class ReapInput(Frozen):
    # Workers younger than this are never deleted.
    grace_seconds: float


class ReapResult(Frozen):
    workers: int
    deleted: tuple[str, ...]
    # Secret stores no open run uses any more (names, never values).
    secrets_deleted: tuple[str, ...] = ()


@workflow.defn
class ReaperWorkflow:
    @workflow.run
    async def run(self, inp: ReapInput) -> ReapResult:
        result: ReapResult = await workflow.execute_activity(
            REAP_ORPHANS,
            inp,
            result_type=ReapResult,
            start_to_close_timeout=REAP_TIMEOUT,
            retry_policy=REAP_RETRY,
            summary=f"delete workers whose workflow closed, older than {inp.grace_seconds:g}s",
        )
        return result
