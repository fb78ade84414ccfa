"""Temporal client and worker construction: one data converter, one task queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.log_sinks import LiveHub, LogSinks
from activities.log_tail import LogTailActivities
from activities.notify import WorkerNotifier
from activities.pool_workers import PoolActivities
from activities.reaper import ReaperActivities
from activities.runtime import WorkerRuntime
from activities.workers import WorkerActivities
from gateway.pool_translate import notice_to_wire
from workflows.pipeline import PipelineWorkflow
from workflows.pool import WorkerPoolWorkflow
from workflows.reaper import ReaperWorkflow
from workflows.stage import StageWorkflow

WORKFLOWS = [PipelineWorkflow, StageWorkflow, WorkerPoolWorkflow, ReaperWorkflow]
# Every live worker holds an await (and a log tail) activity for its whole life, each just
# a coroutine: the SDK's default of 1,000 slots would stall creates at 500 workers.
ACTIVITY_SLOTS = 10_000
# After a crash, workflow tasks and queries first go to the dead worker's sticky queue; the
# SDK's 10 s default made the first GetPipeline on a restarted Ottoscaler take that long.
STICKY_TIMEOUT = timedelta(seconds=3)


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


def create_worker(
    client: Client,
    task_queue: str,
    runtime: WorkerRuntime,
    otto_handler_addr: str = "",
    logs: LogSinks | None = None,
) -> Worker:
    """logs None: the tail keeps lines for live subscribers only, nothing is archived."""
    tail = LogTailActivities(runtime, logs or LogSinks(None, LiveHub()))
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        max_concurrent_activities=ACTIVITY_SLOTS,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        activities=[
            *WorkerActivities(runtime).all(),
            *PoolActivities(runtime).all(),
            ReaperActivities(runtime, client).reap_orphans,
            *WorkerNotifier(otto_handler_addr, notice_to_wire).all(),
            tail.tail_worker_logs,
        ],
    )
