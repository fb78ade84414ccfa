"""A running Ottoscaler (mock runtime, archive in a temporary directory) and its stubs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpc import aio

from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.otto_handler import FakeOttoHandler, serving


@pytest.fixture
def otto_handler() -> FakeOttoHandler:
    return FakeOttoHandler()


@pytest.fixture
async def otto_handler_addr(otto_handler: FakeOttoHandler) -> AsyncIterator[str]:
    async with serving(otto_handler) as address:
        yield address


@pytest.fixture
def settings(
    task_queue: str, runtime_kind: RuntimeKind, tmp_path: Path, otto_handler_addr: str
) -> Settings:
    return Settings(
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=runtime_kind,
        ottoscaler_data_dir=tmp_path,
        otto_handler_addr=otto_handler_addr,
        log_poll_seconds=0.05,
        log_pod_wait_seconds=1.0,
    )


@pytest.fixture
def agents(channel: aio.Channel) -> pb_grpc.LogStreamingServiceAsyncStub:
    return pb_grpc.LogStreamingServiceStub(channel)
