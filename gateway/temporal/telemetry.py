"""The Temporal SDK's own metrics (workflow and activity task latencies, slots, sticky
cache, failures) on TEMPORAL_METRICS_PORT.

The SDK's core serves them from its own HTTP server, bound when the runtime is made, so
they cannot share Ottoscaler's /metrics port: they get a second one, on the same host.
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from gateway.ports import TEMPORAL_METRICS_PORT, Port, binding
from gateway.settings import Settings


def sdk_runtime(settings: Settings) -> Runtime | None:
    """The runtime to connect with; None when TEMPORAL_METRICS_PORT is 0 (nothing exported)."""
    if settings.temporal_metrics_port == 0:
        return None
    at = Port(settings.metrics_bind_host, settings.temporal_metrics_port, TEMPORAL_METRICS_PORT)
    host = f"[{at.host}]" if ":" in at.host else at.host  # an IPv6 address
    # Prometheus's own conventions: counters end in _total, durations in seconds.
    exporter = PrometheusConfig(
        bind_address=f"{host}:{at.number}", counters_total_suffix=True, durations_as_seconds=True
    )
    with binding(at):
        return Runtime(telemetry=TelemetryConfig(metrics=exporter))
