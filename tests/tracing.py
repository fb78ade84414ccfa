"""Spans kept in memory (the OpenTelemetry SDK's in-memory exporter), for tests to read."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from gateway.server.tracing import ottoscaler_tracer


def in_memory_tracer() -> tuple[InMemorySpanExporter, Tracer]:
    """A tracer whose spans the exporter holds as soon as each ends."""
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return exported, ottoscaler_tracer(provider)
