"""Client spans for Ottoscaler's gRPC calls to otto-handler, carrying W3C `traceparent`.

One span per call, named after the RPC, for as long as the call lasts (a stream: from its
opening to its end, never one per message), the child of the span current where the call
starts. Its context goes to the server as `traceparent` metadata, so otto-handler's own
spans join the trace. No tracer: no interceptor at all, nothing in the calls' path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

W3C = TraceContextTextMapPropagator()
# A call ended by its own caller (a forwarder closing its stream) did not fail.
_NOT_FAILED = frozenset({grpc.StatusCode.OK, grpc.StatusCode.CANCELLED})


def client_tracing(tracer: Tracer | None) -> list[aio.ClientInterceptor]:
    """The interceptors of a channel whose calls `tracer` traces; none without one."""
    if tracer is None:
        return []
    spans = _ClientSpans(tracer)
    return [_UnaryTracing(spans), _StreamTracing(spans)]


class _ClientSpans:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        # The tasks that end each span once its call ended.
        self._ending: set[asyncio.Task[None]] = set()

    async def call(
        self,
        continuation: Callable[[aio.ClientCallDetails, Any], Awaitable[aio.Call]],
        details: aio.ClientCallDetails,
        request: Any,
    ) -> aio.Call:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        name = method.lstrip("/")
        service, _, rpc = name.rpartition("/")
        span = self._tracer.start_span(
            name,
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc},
        )
        carrier: dict[str, str] = {}
        W3C.inject(carrier, context=set_span_in_context(span))
        metadata = aio.Metadata(*(details.metadata or ()), *carrier.items())
        traced = aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )
        try:
            call = await continuation(traced, request)
        except BaseException as err:
            span.record_exception(err)
            span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            span.end()
            raise
        task = asyncio.create_task(_end_with(span, call))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)
        return call


async def _end_with(span: Span, call: aio.Call) -> None:
    try:
        code = await call.code()
        span.set_attribute("rpc.grpc.status_code", code.value[0])
        if code not in _NOT_FAILED:
            span.set_status(Status(StatusCode.ERROR, f"{code.name}: {await call.details()}"))
    finally:
        span.end()


class _UnaryTracing(aio.UnaryUnaryClientInterceptor):
    def __init__(self, spans: _ClientSpans) -> None:
        self._spans = spans

    async def intercept_unary_unary(
        self,
        continuation: Callable[[aio.ClientCallDetails, Any], Any],
        client_call_details: aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await self._spans.call(continuation, client_call_details, request)


class _StreamTracing(aio.StreamStreamClientInterceptor):
    def __init__(self, spans: _ClientSpans) -> None:
        self._spans = spans

    async def intercept_stream_stream(
        self,
        continuation: Callable[[aio.ClientCallDetails, Any], Any],
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Any,
    ) -> Any:
        return await self._spans.call(continuation, client_call_details, request_iterator)
