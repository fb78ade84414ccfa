"""How workflows call the worker activities: names, timeouts and retry policies in one place.

A pipeline's shard attempt is one activity, run_worker: it creates the worker, follows it
to its end while archiving its output, and deletes it. Infrastructure errors (API
unreachable, 5xx, 429) are retried here by Temporal with backoff and never count as
stage attempts; a retry resumes the same worker (its name is deterministic) and its log
from the last heartbeat. A PermanentRuntimeError is not retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.workers.spec import WorkerOutcome, WorkerSpec

RUN_WORKER = "run_worker"
AWAIT_WORKER = "await_worker"
DELETE_WORKER = "delete_worker"
DELETE_SECRETS = "delete_secrets"

# Why an activity refused to create a worker (activities/admission.py): no retry can help,
# neither the activity's nor the stage's.
UNSIGNED_SPEC = "UnsignedSpec"
OVER_WORKER_LIMIT = "OverWorkerLimit"
REFUSED = frozenset({UNSIGNED_SPEC, OVER_WORKER_LIMIT})
NON_RETRYABLE = ["PermanentRuntimeError", "WorkerNotFound", "InvalidWorkerSpec", *sorted(REFUSED)]
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
# How long a pipeline worker may wait for room under MAX_WORKERS before its shard fails
# with NoRoom (nothing waits forever); run_worker's timeout allows for it.
ROOM_WAIT = timedelta(hours=24)


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


async def run_worker(spec: WorkerSpec) -> WorkerOutcome:
    """Waits for room under MAX_WORKERS, then creates, follows (its output archived) and
    deletes one worker; its outcome.

    Cancelled, the activity is only asked to stop (the caller deletes the worker at once
    rather than wait for the cancel to reach the activity with its next heartbeat)."""
    outcome: WorkerOutcome = await workflow.execute_activity(
        RUN_WORKER,
        spec,
        result_type=WorkerOutcome,
        start_to_close_timeout=ROOM_WAIT + worker_lifetime(spec) + TAIL_DRAIN,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=INFRA_RETRY,
        summary=spec.summary,
    )
    return outcome


async def delete_secrets(store: str) -> None:
    """Removes a run's secret store (its values) once the run is done with it."""
    await workflow.execute_activity(
        DELETE_SECRETS,
        store,
        start_to_close_timeout=QUICK_CALL,
        retry_policy=INFRA_RETRY,
        summary="delete the run's secrets",
    )
