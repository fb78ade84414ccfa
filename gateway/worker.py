"""The Temporal worker: every workflow and activity of Ottoscaler on one task queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.admission import Admission
from activities.capacity import Unlimited, WorkerCapacity
from activities.logs import LiveHub, LogSinks
from activities.pools.notify import WorkerNotifier
from activities.pools.workers import PoolActivities
from activities.reaper.sweep import ReaperActivities
from activities.runtimes.protocol import WorkerRuntime
from activities.workers.lifecycle import WorkerActivities
from activities.workers.run import WorkerRunActivities
from gateway.pools.wire import notice_to_wire
from gateway.temporal.client import WORKFLOWS

# Every live worker holds a run_worker (or a pool's await) activity for its whole life, just
# a coroutine: the SDK's default of 1,000 slots would stall creates at 500 workers.
ACTIVITY_SLOTS = 10_000
# After a crash, workflow tasks and queries first go to the dead worker's sticky queue; the
# SDK's 10 s default made the first GetPipeline on a restarted Ottoscaler take that long.
STICKY_TIMEOUT = timedelta(seconds=3)


def create_worker(
    client: Client,
    task_queue: str,
    runtime: WorkerRuntime,
    admission: Admission,
    otto_handler_addr: str = "",
    logs: LogSinks | None = None,
    capacity: WorkerCapacity | None = None,
    interceptors: Sequence[Interceptor] = (),
    tracer: Tracer | None = None,
) -> Worker:
    """admission: what this process creates (signed specs, its own limits, agents'
    credentials). logs None: workers' lines reach live subscribers only, nothing is
    archived. capacity None: no MAX_WORKERS. tracer: where calls to otto-handler are traced."""
    capacity = capacity or Unlimited()
    runs = WorkerRunActivities(runtime, logs or LogSinks(None, LiveHub()), admission, capacity)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        max_concurrent_activities=ACTIVITY_SLOTS,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        interceptors=interceptors,
        activities=[
            *WorkerActivities(runtime, capacity).all(),
            *PoolActivities(runtime, admission).all(),
            ReaperActivities(runtime, client).reap_orphans,
            *WorkerNotifier(otto_handler_addr, notice_to_wire, tracer).all(),
            runs.run_worker,
        ],
    )
