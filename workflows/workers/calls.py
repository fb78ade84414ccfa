"""How workflows call the worker activities: names, timeouts and retry policies in one place.

Infrastructure errors (API unreachable, 5xx, 429) are retried here by Temporal with
backoff and never count as stage attempts; a PermanentRuntimeError is not retried.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec

CREATE_WORKER = "create_worker"
AWAIT_WORKER = "await_worker"
DELETE_WORKER = "delete_worker"
TAIL_WORKER_LOGS = "tail_worker_logs"
# Workflows recorded before the log tail existed replay without it.
LOG_TAIL_PATCH = "log-tail"

NON_RETRYABLE = ["PermanentRuntimeError", "WorkerNotFound", "InvalidWorkerSpec"]
INFRA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=NON_RETRYABLE,
)
# How long a crashed Ottoscaler's awaits and tails wait to be retried elsewhere. Not
# shorter: the SDK sends heartbeats every 0.8 of it, and at 15 s those of 1,000 workers
# doubled GetWorkerStatus's p99 on a 2-core host (bench/status.py).
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# A stage without timeout_seconds still may not hold a worker slot forever.
UNBOUNDED_STAGE_LIMIT = timedelta(hours=24)
QUICK_CALL = timedelta(seconds=60)
# How long a tail may take after the worker ended to archive what it printed last.
TAIL_DRAIN = timedelta(minutes=10)


async def create_worker(spec: WorkerSpec) -> WorkerInfo:
    info: WorkerInfo = await workflow.execute_activity(
        CREATE_WORKER,
        spec,
        result_type=WorkerInfo,
        start_to_close_timeout=QUICK_CALL,
        retry_policy=INFRA_RETRY,
        summary=f"create {spec.summary}",
    )
    return info


def worker_lifetime(spec: WorkerSpec) -> timedelta:
    """The longest a worker may exist: pending, then running, then a quick call's slack."""
    run_limit = (
        timedelta(seconds=spec.timeout_seconds) if spec.timeout_seconds else UNBOUNDED_STAGE_LIMIT
    )
    return run_limit + timedelta(seconds=spec.pending_timeout_seconds) + QUICK_CALL


async def await_worker(spec: WorkerSpec) -> WorkerOutcome:
    outcome: WorkerOutcome = await workflow.execute_activity(
        AWAIT_WORKER,
        spec,
        result_type=WorkerOutcome,
        start_to_close_timeout=worker_lifetime(spec),
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=INFRA_RETRY,
        summary=f"await {spec.summary}",
    )
    return outcome


async def delete_worker(spec: WorkerSpec) -> None:
    await workflow.execute_activity(
        DELETE_WORKER,
        spec.name,
        start_to_close_timeout=QUICK_CALL,
        retry_policy=INFRA_RETRY,
        summary=f"delete {spec.summary}",
    )


async def tail_worker_logs(spec: WorkerSpec) -> None:
    """Follows the worker's output into the log sinks; a tail that gave up is only logged,
    since logs never fail a shard."""
    try:
        await workflow.execute_activity(
            TAIL_WORKER_LOGS,
            spec,
            result_type=int,
            start_to_close_timeout=worker_lifetime(spec) + TAIL_DRAIN,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=INFRA_RETRY,
            summary=f"logs {spec.summary}",
        )
    except ActivityError as err:
        workflow.logger.warning("log tail of %s gave up: %s", spec.name, err)


async def await_with_logs(spec: WorkerSpec) -> WorkerOutcome:
    """await_worker while the worker's logs are tailed. Once the worker has ended, waits
    for the tail, so the worker is deleted only after its last lines are archived. A worker
    that never started has no output to wait for, and an error or a cancellation stops
    the tail without waiting (the worker is deleted anyway)."""
    if not workflow.patched(LOG_TAIL_PATCH):
        return await await_worker(spec)
    tail = asyncio.create_task(tail_worker_logs(spec))
    try:
        outcome = await await_worker(spec)
    except (Exception, asyncio.CancelledError):  # not GeneratorExit: an evicted workflow
        tail.cancel()
        raise
    if outcome.started_at is None:
        tail.cancel()
    else:
        await tail
    return outcome
