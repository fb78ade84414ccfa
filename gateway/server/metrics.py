"""Prometheus metrics on METRICS_PORT: gRPC calls by method and status, workers created/deleted.

Each running Ottoscaler has a registry of its own, not prometheus_client's global one, so
several can run in one process (tests) without clashing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import grpc
from grpc import aio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.protocol import WorkerEvent, WorkerRuntime
from gateway.ports import Port, binding
from gateway.server.interceptors import Context, Continuation, Handler, Scope, rewrap, within
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec

# Streams (ExecutePipeline, WatchPipeline, followed logs) last as long as a pipeline does,
# so the buckets go on to hours past the default's 10 s.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

Record = Callable[[grpc.StatusCode, float], None]


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

    def record_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.grpc_requests.labels(method=method, code=code.name).inc()
        self.grpc_seconds.labels(method=method).observe(seconds)


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


def _recording(record: Record) -> Scope:
    """A scope that records how its call ended and how long it took."""

    @asynccontextmanager
    async def recording(context: Context) -> AsyncIterator[None]:
        start = time.monotonic()
        error: BaseException | None = None
        try:
            yield
        except BaseException as err:
            error = err
            raise
        finally:
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
        scope = _recording(record)
        return rewrap(handler, lambda behaviour, streams: within(behaviour, streams, scope))


class CountingRuntime:
    """The runtime the activities drive, counting the creates and deletes that succeed."""

    def __init__(self, runtime: WorkerRuntime, metrics: Metrics) -> None:
        self._runtime = runtime
        self._metrics = metrics
        self.name = runtime.name
        self.secrets = runtime.secrets

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        info = await self._runtime.create(spec)
        self._metrics.workers_created.inc()
        return info

    async def delete(self, name: str) -> None:
        await self._runtime.delete(name)
        self._metrics.workers_deleted.inc()

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        return await self._runtime.wait(spec)

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
