"""The orphan reaper's Temporal Schedule: ensured by every `ottoscaler up` and `serve`.

One schedule per task queue (the queue whose workers hold the runtime to sweep), with a
fixed id, so a second process finds it instead of creating another one; it then updates
the schedule to its own settings, keeping a pause an operator set. Why a Schedule and not a
long-running workflow: docs/kubernetes.md#orphans.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from workflows.reaper.workflow import ReaperWorkflow, ReapInput

log = logging.getLogger(__name__)

# A sweep stuck for this long is abandoned; the next one starts afresh.
SWEEP_TIMEOUT = timedelta(minutes=10)
# Temporal refuses a shorter catch-up window.
MIN_CATCHUP = timedelta(minutes=1)


def reaper_schedule_id(task_queue: str) -> str:
    return f"ottoscaler-reaper-{task_queue}"


def reaper_schedule(task_queue: str, interval_seconds: float, grace_seconds: float) -> Schedule:
    interval = timedelta(seconds=interval_seconds)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReaperWorkflow.run,
            ReapInput(grace_seconds=grace_seconds),
            id=reaper_schedule_id(task_queue),  # Temporal appends the time of each sweep
            task_queue=task_queue,
            execution_timeout=SWEEP_TIMEOUT,
            static_summary="delete orphaned worker pods",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)]),
        # One sweep at a time; after downtime one sweep catches up, not one per interval.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=max(interval, MIN_CATCHUP)
        ),
    )


async def ensure_reaper(
    client: Client, task_queue: str, interval_seconds: float, grace_seconds: float
) -> None:
    """Creates the reaper's schedule, or brings an existing one up to these settings.

    A failure is logged, not raised: pipelines run without the reaper, which only cleans up.
    """
    schedule_id = reaper_schedule_id(task_queue)
    try:
        await _create_or_update(
            client, schedule_id, reaper_schedule(task_queue, interval_seconds, grace_seconds)
        )
    except RPCError as err:
        log.error("orphaned workers will not be deleted: schedule %s: %s", schedule_id, err)


async def _create_or_update(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def keep_state(update: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = update.description.schedule.state  # e.g. paused by an operator
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(keep_state)
