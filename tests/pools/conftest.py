"""A running Ottoscaler (worker + gateway, mock runtime) with small pool limits per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from grpc import aio
from temporalio.client import Client

from gateway.app import Running, running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return Settings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=RuntimeKind.MOCK,
        max_workers_per_task=10,
        max_workers=30,
        worker_ttl_seconds=60,
    )


@pytest.fixture
async def ottoscaler(client: Client, settings: Settings) -> AsyncIterator[Running]:
    async with running_ottoscaler(settings, client) as running:
        yield running


@pytest.fixture
async def stub(ottoscaler: Running) -> AsyncIterator[pb_grpc.OttoscalerServiceAsyncStub]:
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        yield pb_grpc.OttoscalerServiceStub(channel)
