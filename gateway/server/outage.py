"""While Temporal is unreachable: health says NOT_SERVING and calls that need Temporal
answer UNAVAILABLE at once (gateway/temporal/reachability.py says when). While the log
database is unreachable (OTTOSCALER_DATABASE_URL), health says NOT_SERVING too; log
reads answer UNAVAILABLE by themselves and pipelines go on.

Without this a call would wait out the Temporal client's own retries, some 10 seconds,
before failing. GetWorkerStatus is answered from the worker status cache and
LogStreamingService from the log machinery, so both go on serving; so does the health
name `liveness`, which says only that the process is up (a liveness probe that restarted
Ottoscaler would not bring Temporal back).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2

from gateway.errors import Unavailable
from gateway.server.interceptors import Context, Continuation, Handler, rewrap, within
from gateway.temporal.reachability import Reachability
from ottoscaler.v1 import ottoscaler_pb2 as pb

LIVENESS = "liveness"
_SERVICE = pb.DESCRIPTOR.services_by_name["OttoscalerService"].full_name
_WITHOUT_TEMPORAL = {f"/{_SERVICE}/GetWorkerStatus"}


def needs_temporal(method: str) -> bool:
    return method.startswith(f"/{_SERVICE}/") and method not in _WITHOUT_TEMPORAL


class TemporalGate(aio.ServerInterceptor):
    def __init__(self, temporal: Reachability) -> None:
        self._temporal = temporal

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or not needs_temporal(handler_call_details.method):
            return handler
        return rewrap(handler, lambda behaviour, streams: within(behaviour, streams, self._open))

    @asynccontextmanager
    async def _open(self, context: Context) -> AsyncIterator[None]:
        if not self._temporal.reachable:
            raise Unavailable(
                f"temporal at {self._temporal.address} is unreachable "
                f"({self._temporal.problem}); try again once health reports SERVING"
            )
        yield


class Dependency(Protocol):
    """Something the gateway needs that may stop answering: Temporal (its reachability
    check), the log database (its notice listener)."""

    @property
    def reachable(self) -> bool: ...

    def on_change(self, listener: Callable[[bool], Awaitable[None]]) -> None: ...


async def health_follows(
    servicer: health.aio.HealthServicer, dependencies: Sequence[Dependency], names: Sequence[str]
) -> None:
    """Sets `names` (the overall health "" among them) SERVING while every dependency
    answers and NOT_SERVING while one does not, now and at each change."""

    async def follow(_: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if all(dependency.reachable for dependency in dependencies)
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in names:
            await servicer.set(name, status)

    await follow(True)
    for dependency in dependencies:
        dependency.on_change(follow)
