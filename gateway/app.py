"""Ottoscaler's long-running part: the Temporal worker and the gRPC gateway, together.

`ottoscaler up` runs it beside an embedded Temporal dev server, `ottoscaler serve` against
an existing Temporal. Both are stateless: every pipeline lives in Temporal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client

from activities.runtime import WorkerRuntime
from activities.runtimes import create_runtime
from gateway.log_service import LogService
from gateway.pipeline_service import PipelineService
from gateway.pool_service import PoolService
from gateway.server import create_server
from gateway.servicer import OttoscalerServicer
from gateway.settings import Settings
from gateway.temporal import create_worker

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 5


@dataclass(frozen=True)
class Running:
    grpc_port: int
    runtime: WorkerRuntime


@asynccontextmanager
async def running_ottoscaler(settings: Settings, client: Client) -> AsyncIterator[Running]:
    """Starts worker and gateway; on exit stops the gateway, the worker, then the runtime."""
    runtime = create_runtime(
        settings.ottoscaler_runtime.value, settings.namespace, settings.otto_agent_image
    )
    try:
        worker = create_worker(client, settings.temporal_task_queue, runtime)
        servicer = OttoscalerServicer(
            pipelines=PipelineService(client, settings),
            pools=PoolService(client, settings),
            logs=LogService(settings),
        )
        async with worker:
            server, port = await create_server(servicer, settings.grpc_host, settings.grpc_port)
            log.info("gateway listening on %s:%d", settings.grpc_host, port)
            try:
                yield Running(grpc_port=port, runtime=runtime)
            finally:
                await server.stop(STOP_GRACE_SECONDS)
    finally:
        await runtime.close()
