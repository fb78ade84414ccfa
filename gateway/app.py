"""Ottoscaler's long-running part: the Temporal worker and the gRPC gateway, together.

`ottoscaler up` runs it beside an embedded Temporal dev server, `ottoscaler serve` against
an existing Temporal. Both are stateless: every pipeline lives in Temporal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from opentelemetry.trace import Tracer
from temporalio.client import Client

from activities.admission import Admission
from activities.capacity import WorkerLedger
from activities.capacity.shared import SharedCapacity
from activities.runtimes import create_runtime
from activities.runtimes.protocol import WorkerRuntime
from gateway.logs.agents import AgentLogService
from gateway.logs.machinery import forwarding, log_sinks, pruning
from gateway.logs.service import LogService
from gateway.pipelines.service import PipelineService
from gateway.pools.service import PoolService
from gateway.pools.status import WorkerStatusCache
from gateway.ports import CODEC_PORT, GRPC_PORT, METRICS_PORT, Port, binding
from gateway.reaper.schedule import ensure_reaper
from gateway.server.codec import serving_codec
from gateway.server.log_json import LogIds
from gateway.server.metrics import CountingRuntime, Metrics, serving
from gateway.server.pool_starts import PoolWorkerStarts
from gateway.server.reaping import ReaperCounts
from gateway.server.run_counts import PipelineRunCounts
from gateway.server.server import create_server
from gateway.server.servicer import OttoscalerServicer
from gateway.server.tls import server_credentials
from gateway.settings import Settings
from gateway.temporal.codec import EncryptionCodec, encrypting
from gateway.temporal.reachability import Reachability
from gateway.worker import create_worker

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5


@dataclass(frozen=True)
class Running:
    grpc_host: str
    grpc_port: int
    runtime: WorkerRuntime
    metrics_port: int
    # The codec endpoint's port; None without a payload key (nothing is encrypted).
    codec_port: int | None = None


def worker_capacity(settings: Settings) -> WorkerLedger | SharedCapacity:
    """MAX_WORKERS: shared by the replicas through PostgreSQL when they have it."""
    url = settings.database_url
    if url is None:
        return WorkerLedger(settings.max_workers)
    return SharedCapacity(settings.max_workers, url)


@asynccontextmanager
async def running_ottoscaler(
    settings: Settings,
    client: Client,
    runtime: WorkerRuntime | None = None,
    stop_grace: float = STOP_GRACE_SECONDS,
    tracer: Tracer | None = None,
) -> AsyncIterator[Running]:
    """Starts worker and gateway; on exit stops the gateway, the worker, then the runtime.

    runtime: one to use instead of the one OTTOSCALER_RUNTIME names (tests); closed too.
    stop_grace: seconds open calls and streams get to finish before they are cancelled.
    tracer: where the gRPC calls' spans go (the client's own interceptor traces Temporal).
    """
    runtime = runtime or create_runtime(
        settings.ottoscaler_runtime.value,
        settings.namespace,
        settings.otto_agent_image,
        data_dir=settings.ottoscaler_data_dir,
        owner=settings.ottoscaler_owner,
        tracer=tracer,
    )
    metrics = Metrics()
    # With a payload key, everything this process writes to Temporal is encrypted.
    keys = settings.payload_keys
    codec = EncryptionCodec(keys) if keys else None
    client = encrypting(client, codec)
    try:
        async with log_sinks(settings, metrics) as (logs, log_database):
            # MAX_WORKERS: pools' ScaleUps and pipelines' workers share one count.
            capacity = worker_capacity(settings)
            key = settings.signing_key
            admission = Admission(key, settings.max_workers_per_task)
            runs = PipelineRunCounts(client, metrics)
            worker = create_worker(
                client,
                settings.temporal_task_queue,
                CountingRuntime(runtime, metrics),
                admission,
                settings.otto_handler_addr,
                logs,
                capacity,
                interceptors=[
                    LogIds(),
                    ReaperCounts(metrics.registry),
                    runs,
                    PoolWorkerStarts(metrics, runtime.name),
                ],
                tracer=tracer,
            )
            statuses = WorkerStatusCache(runtime)
            metrics.count_workers(statuses.phase_counts)
            servicer = OttoscalerServicer(
                pipelines=PipelineService(
                    client,
                    settings,
                    admission.signer,
                    runtime.secrets,
                ),
                pools=PoolService(client, settings, statuses, capacity, admission.signer),
                logs=LogService(settings, client, logs),
            )
            agent_logs = AgentLogService(
                logs,
                statuses.phase,
                statuses.labels,
                runtime.secrets,
                signing_key=key,
                max_sessions=settings.max_workers,
                registration_ttl=settings.agent_registration_ttl_seconds,
                rate_limit=settings.agent_rate_limit,
            )
            temporal = Reachability(client, settings.temporal_check_seconds)
            host = settings.grpc_bind_host
            if host != settings.grpc_host:
                log.warning(
                    "GRPC_HOST=%s ignored: the local runtime runs commands on this host, so "
                    "without OTTOSCALER_AUTH_TOKEN the gateway listens on %s only",
                    settings.grpc_host,
                    host,
                )
            credentials = server_credentials(
                settings.ottoscaler_tls_cert,
                settings.ottoscaler_tls_key,
                settings.ottoscaler_tls_client_ca,
            )
            metrics_at = Port(settings.metrics_bind_host, settings.metrics_port, METRICS_PORT)
            codec_at = Port(settings.codec_host, settings.codec_port, CODEC_PORT)
            async with (
                capacity.following(runtime),
                runs.checking(),
                worker,
                statuses.following(),
                forwarding(settings, logs, metrics, tracer),
                pruning(settings, logs),
                serving(metrics, metrics_at) as metrics_port,
                serving_codec(codec, codec_at, settings.codec_origins) as codec_port,
                temporal.watching(),
            ):
                await ensure_reaper(
                    client,
                    settings.temporal_task_queue,
                    settings.reaper_interval_seconds,
                    settings.reaper_grace_seconds,
                )
                with binding(Port(host, settings.grpc_port, GRPC_PORT)):
                    server, port = await create_server(
                        servicer,
                        host,
                        settings.grpc_port,
                        agent_logs,
                        auth_token=settings.auth_token,
                        metrics=metrics,
                        credentials=credentials,
                        temporal=temporal,
                        database=log_database,
                        tracer=tracer,
                    )
                log.info(
                    "gateway listening on %s:%d (%s, %s), metrics on http://%s:%d/metrics",
                    host,
                    port,
                    "TLS" if credentials else "plaintext",
                    "bearer token required" if settings.auth_token else "no auth token",
                    settings.metrics_bind_host,
                    metrics_port,
                )
                if codec_port is not None:
                    log.info(
                        "payloads to Temporal encrypted; codec endpoint on http://%s:%d",
                        settings.codec_host,
                        codec_port,
                    )
                try:
                    yield Running(
                        grpc_host=host,
                        grpc_port=port,
                        runtime=runtime,
                        metrics_port=metrics_port,
                        codec_port=codec_port,
                    )
                finally:
                    await server.stop(stop_grace)
                    await agent_logs.close()
    finally:
        await runtime.close()
