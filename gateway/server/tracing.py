"""OpenTelemetry traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set; off otherwise, at no cost.

One trace from the caller's call to the activities: the gRPC server span (named after the
RPC, the parent taken from the caller's W3C `traceparent` metadata), then the Temporal
client's, workflows' and activities' spans (temporalio.contrib.opentelemetry). The OTLP
exporters read the standard OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME variables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from grpc import aio
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.server.interceptors import Context, Continuation, Handler, Scope, rewrap, within
from gateway.settings import Settings

_W3C = TraceContextTextMapPropagator()


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """The process's provider, exporting over OTLP; None when no endpoint is set."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    exporter: SpanExporter = (
        GrpcExporter() if settings.otel_exporter_otlp_protocol == "grpc" else HttpExporter()
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "ottoscaler"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class TracingInterceptor(aio.ServerInterceptor):
    """A server span around every call, for as long as a stream lasts, parented by the
    caller's `traceparent`; current while the call runs, so Temporal calls join it."""

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.lstrip("/")
        scope = _spanning(self._tracer, method)
        return rewrap(handler, lambda behaviour, streams: within(behaviour, streams, scope))


def _spanning(tracer: Tracer, method: str) -> Scope:
    service, _, name = method.rpartition("/")

    @asynccontextmanager
    async def spanning(context: Context) -> AsyncIterator[None]:
        carrier = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if isinstance(value, str)
        }
        with tracer.start_as_current_span(
            method,
            context=_W3C.extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        ) as span:
            yield
            code = context.code()
            if code is not None and code is not grpc.StatusCode.OK:
                span.set_status(Status(StatusCode.ERROR, code.name))

    return spanning


def ottoscaler_tracer(provider: TracerProvider) -> Tracer:
    return trace.get_tracer("ottoscaler", tracer_provider=provider)
