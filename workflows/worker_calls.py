"""How workflows call the worker activities: names, timeouts and retry policies in one place.

Infrastructure errors (API unreachable, 5xx, 429) are retried here by Temporal with
backoff and never count as stage attempts; a PermanentRuntimeError is not retried.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.workers import WorkerInfo, WorkerOutcome, WorkerSpec

CREATE_WORKER = "create_worker"
AWAIT_WORKER = "await_worker"
DELETE_WORKER = "delete_worker"

NON_RETRYABLE = ["PermanentRuntimeError", "WorkerNotFound", "InvalidWorkerSpec"]
INFRA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=NON_RETRYABLE,
)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# A stage without timeout_seconds still may not hold a worker slot forever.
UNBOUNDED_STAGE_LIMIT = timedelta(hours=24)
QUICK_CALL = timedelta(seconds=60)


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


async def await_worker(spec: WorkerSpec) -> WorkerOutcome:
    run_limit = (
        timedelta(seconds=spec.timeout_seconds) if spec.timeout_seconds else UNBOUNDED_STAGE_LIMIT
    )
    outcome: WorkerOutcome = await workflow.execute_activity(
        AWAIT_WORKER,
        spec,
        result_type=WorkerOutcome,
        start_to_close_timeout=run_limit
        + timedelta(seconds=spec.pending_timeout_seconds)
        + QUICK_CALL,
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
