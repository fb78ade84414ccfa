"""How WorkerPoolWorkflow calls its own activities (the worker ones: workflows/workers/calls.py).

Notifications are retried with backoff for a bounded time and then given up: otto-handler
being down must never keep a pool alive or block its scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.pool.models import Created, WorkerNotice
from workflows.workers.calls import HEARTBEAT_TIMEOUT, INFRA_RETRY, QUICK_CALL
from workflows.workers.spec import WorkerInfo, WorkerSpec

CREATE_WORKERS = "create_workers"
AWAIT_WORKER_STARTED = "await_worker_started"
NOTIFY_WORKERS = "notify_workers"

NOTIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["NotifyRefused"],
)
NOTIFY_GIVE_UP_AFTER = timedelta(minutes=10)
# Notices per activity: keeps each payload small and the history short.
NOTIFY_BATCH = 200


async def create_workers(specs: Sequence[WorkerSpec], summary: str) -> list[Created]:
    """All of a ScaleUp's workers in one activity: one history entry, not one per worker."""
    created: list[Created] = await workflow.execute_activity(
        CREATE_WORKERS,
        list(specs),
        result_type=list[Created],
        start_to_close_timeout=QUICK_CALL,
        retry_policy=INFRA_RETRY,
        summary=f"create {summary}",
    )
    return created


async def await_worker_started(spec: WorkerSpec) -> WorkerInfo:
    info: WorkerInfo = await workflow.execute_activity(
        AWAIT_WORKER_STARTED,
        spec,
        result_type=WorkerInfo,
        start_to_close_timeout=timedelta(seconds=spec.pending_timeout_seconds) + QUICK_CALL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=INFRA_RETRY,
        summary=f"await start {spec.summary}",
    )
    return info


async def notify_workers(notices: Sequence[WorkerNotice]) -> None:
    await workflow.execute_activity(
        NOTIFY_WORKERS,
        list(notices),
        schedule_to_close_timeout=NOTIFY_GIVE_UP_AFTER,
        start_to_close_timeout=QUICK_CALL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=NOTIFY_RETRY,
        summary=f"notify otto-handler · {len(notices)} transitions",
    )
