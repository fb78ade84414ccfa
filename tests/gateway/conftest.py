"""A running Ottoscaler (worker + gateway on an ephemeral loopback port) per test.

Tests choose the runtime with `@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])`;
the default is the mock runtime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from grpc import aio
from temporalio.client import Client

from gateway.app import Running, running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc


@pytest.fixture
def runtime_kind() -> RuntimeKind:
    return RuntimeKind.MOCK


@pytest.fixture
def settings(task_queue: str, runtime_kind: RuntimeKind) -> Settings:
    return Settings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=runtime_kind,
        max_workers_per_task=10,
        progress_poll_seconds=0.05,
    )


@pytest.fixture
async def ottoscaler(client: Client, settings: Settings) -> AsyncIterator[Running]:
    async with running_ottoscaler(settings, client) as running:
        yield running


@pytest.fixture
async def stub(ottoscaler: Running) -> AsyncIterator[pb_grpc.OttoscalerServiceAsyncStub]:
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        yield pb_grpc.OttoscalerServiceStub(channel)
