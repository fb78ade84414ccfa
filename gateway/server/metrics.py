"""Prometheus metrics on METRICS_PORT: gRPC calls by method and status, open streams;
pipelines and stages once per run (run_counts); workers created, deleted,
by phase, and how long they took to start.

Each running Ottoscaler has a registry of its own, not prometheus_client's global one, so
several can run in one process (tests) without clashing.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import grpc
from grpc import aio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.protocol import WorkerEvent, WorkerRuntime
from gateway.ports import Port, binding
from gateway.server.interceptors import (
    Behaviour,
    Context,
    Continuation,
    Handler,
    Scope,
    rewrap,
    within,
)
from workflows.pipeline.models import ProgressEvent, StageStatus
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerPhase, WorkerSpec

# Streams (ExecutePipeline, WatchPipeline, followed logs) last as long as a pipeline does,
# so the buckets go on to hours past the default's 10 s.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# Stages and pipelines run from seconds to days.
RUN_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)
# A worker's start: scheduling, an image pull, a node scaling up.
START_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
# The runtime's word for why a worker failed, as a retry's error quotes it after the shard:
# "shard 1/2: OOMKilled (exit 137): ..." (workflows/pipeline/stage.py).
_REASON = re.compile(r": ([A-Za-z]+)")

Record = Callable[[grpc.StatusCode, float], None]
PhaseCounts = Callable[[], Mapping[WorkerPhase, int]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # What the global registry would show: the process's CPU, memory, files; GC; version.
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.grpc_requests = Counter(
            "ottoscaler_grpc_requests",
            "gRPC calls that ended, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.grpc_seconds = Histogram(
            "ottoscaler_grpc_request_seconds",
            "How long gRPC calls took, streams until their last message.",
            ["method"],
            buckets=CALL_BUCKETS,
            registry=self.registry,
        )
        self.workers_created = Counter(
            "ottoscaler_workers_created",
            "Worker creates that succeeded (a retried create adopting its worker counts again).",
            registry=self.registry,
        )
        self.workers_deleted = Counter(
            "ottoscaler_workers_deleted",
            "Worker deletes that succeeded (deleting a worker already gone counts too).",
            registry=self.registry,
        )

        self.open_streams = Gauge(
            "ottoscaler_open_streams",
            "Calls that answer with a stream, open now, by method.",
            ["method"],
            registry=self.registry,
        )
        self.pipelines_started = Counter(
            "ottoscaler_pipelines_started",
            "Pipeline runs started, each once, on the replica whose Temporal worker ran it.",
            registry=self.registry,
        )
        self.pipelines_ended = Counter(
            "ottoscaler_pipelines_ended",
            "Pipeline runs ended, each once, by final status.",
            ["status"],
            registry=self.registry,
        )
        self.pipeline_seconds = Histogram(
            "ottoscaler_pipeline_seconds",
            "How long those pipeline runs took, by final status.",
            ["status"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "ottoscaler_stage_seconds",
            "How long their stages ran, retries included, by final status.",
            ["status"],
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.stage_retries = Counter(
            "ottoscaler_stage_retries",
            "Stage attempts retried, by the runtime's reason for the first failed worker.",
            ["reason"],
            registry=self.registry,
        )
        self.worker_start_seconds = Histogram(
            "ottoscaler_worker_start_seconds",
            "From a worker's creation to its start (pipelines' and pools'), by runtime.",
            ["runtime"],
            buckets=START_BUCKETS,
            registry=self.registry,
        )

        self.log_lines_archived = Counter(
            "ottoscaler_log_lines_archived",
            "Workers' log lines archived by this replica.",
            registry=self.registry,
        )
        self.log_lines_dropped = Counter(
            "ottoscaler_log_lines_dropped",
            "Log lines not kept (size_limit: past LOG_MAX_BYTES_PER_WORKER) or not taken "
            "(otto_handler: answered DROP).",
            ["by"],
            registry=self.registry,
        )
        self.log_lines_forwarded = Counter(
            "ottoscaler_log_lines_forwarded",
            "Log lines otto-handler accepted from this replica.",
            registry=self.registry,
        )
        self.log_forward_lag = Histogram(
            "ottoscaler_log_forward_lag_seconds",
            "From a line's printing to otto-handler's accepting it.",
            buckets=START_BUCKETS,
            registry=self.registry,
        )

    def record_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.grpc_requests.labels(method=method, code=code.name).inc()
        self.grpc_seconds.labels(method=method).observe(seconds)

    # The log machinery's counts (activities/logs/sinks.py LineCounts,
    # gateway/logs/forwarder.py ForwardCounts).
    def archived(self, lines: int) -> None:
        self.log_lines_archived.inc(lines)

    def cut(self, lines: int) -> None:
        self.log_lines_dropped.labels(by="size_limit").inc(lines)

    def forwarded(self, lag_seconds: float | None) -> None:
        self.log_lines_forwarded.inc()
        if lag_seconds is not None:
            self.log_forward_lag.observe(max(lag_seconds, 0))

    def refused(self) -> None:
        self.log_lines_dropped.labels(by="otto_handler").inc()

    def count_workers(self, counts: PhaseCounts) -> None:
        """Adds ottoscaler_workers{phase}, read from counts at every scrape."""
        self.registry.register(_WorkersByPhase(counts))

    def worker_started(
        self, runtime: str, created_at: datetime | None, started_at: datetime | None
    ) -> None:
        seconds = _between(created_at, started_at)
        if seconds is not None:
            self.worker_start_seconds.labels(runtime=runtime).observe(max(seconds, 0))

    def pipeline_event(self, event: ProgressEvent) -> None:
        """One transition of a run that ended (gateway/server/run_counts.py)."""
        status = event.status.value
        if event.status is StageStatus.RETRYING:
            found = _REASON.search(event.error_message)
            self.stage_retries.labels(reason=found[1] if found else "unknown").inc()
            return
        if not event.status.finished:
            return
        seconds = _between(event.started_at, event.completed_at)
        if event.stage_id:
            if seconds is not None:
                self.stage_seconds.labels(status=status).observe(seconds)
            return
        self.pipelines_ended.labels(status=status).inc()
        if seconds is not None:
            self.pipeline_seconds.labels(status=status).observe(seconds)


def _between(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


class _WorkersByPhase(Collector):
    def __init__(self, counts: PhaseCounts) -> None:
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ottoscaler_workers",
            "Workers the runtime lists now (pipelines' and pools'), by phase.",
            labels=["phase"],
        )
        counts = self._counts()
        for phase in WorkerPhase:
            family.add_metric([phase.value], counts.get(phase, 0))
        yield family


@asynccontextmanager
async def serving(metrics: Metrics, at: Port) -> AsyncIterator[int]:
    """Serves GET /metrics on the port (0 picks a free one); yields the bound port."""
    with binding(at):
        server, thread = start_http_server(at.number, at.host, registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    try:
        yield server.server_port
    finally:
        # shutdown() waits for the serving thread's next poll: off the event loop.
        await asyncio.to_thread(stop)


def _final_code(
    context: aio.ServicerContext[Any, Any], error: BaseException | None
) -> grpc.StatusCode:
    code: grpc.StatusCode | None = context.code()
    if code is not None:  # set by an abort (gateway/errors.py, gateway/server/auth.py)
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED  # the client went away or its deadline passed
    return grpc.StatusCode.UNKNOWN  # what gRPC answers for an exception a handler let out


def _recording(record: Record, open_now: Gauge | None) -> Scope:
    """A scope that records how its call ended and how long it took; open_now counts it
    while it runs."""

    @asynccontextmanager
    async def recording(context: Context) -> AsyncIterator[None]:
        start = time.monotonic()
        error: BaseException | None = None
        if open_now is not None:
            open_now.inc()
        try:
            yield
        except BaseException as err:
            error = err
            raise
        finally:
            if open_now is not None:
                open_now.dec()
            record(_final_code(context, error), time.monotonic() - start)

    return recording


class MetricsInterceptor(aio.ServerInterceptor):
    """Counts and times every call; first in line, so rejected calls count too."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: not a label, its name is the caller's choice
            return None
        method = handler_call_details.method.lstrip("/")
        record = partial(self._metrics.record_call, method)
        open_streams = self._metrics.open_streams.labels(method=method)

        def wrap(behaviour: Behaviour, streams: bool) -> Behaviour:
            scope = _recording(record, open_streams if streams else None)
            return within(behaviour, streams, scope)

        return rewrap(handler, wrap)


class CountingRuntime:
    """The runtime the activities drive, counting the creates and deletes that succeed."""

    def __init__(self, runtime: WorkerRuntime, metrics: Metrics) -> None:
        self._runtime = runtime
        self._metrics = metrics
        self.name = runtime.name
        self.secrets = runtime.secrets
        # When each worker created here, and not yet waited for or deleted, was created.
        self._created: dict[str, datetime] = {}

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        info = await self._runtime.create(spec)
        self._metrics.workers_created.inc()
        self._created[spec.name] = info.created_at or datetime.now(UTC)
        return info

    async def delete(self, name: str) -> None:
        await self._runtime.delete(name)
        self._created.pop(name, None)
        self._metrics.workers_deleted.inc()

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        outcome = await self._runtime.wait(spec)
        self._metrics.worker_started(
            self.name, self._created.pop(spec.name, None), outcome.started_at
        )
        return outcome

    async def read_outputs(self, spec: WorkerSpec) -> str:
        return await self._runtime.read_outputs(spec)

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        return await self._runtime.list(labels)

    def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        return self._runtime.watch(labels)

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        return self._runtime.follow_output(spec, after)

    async def close(self) -> None:
        await self._runtime.close()
