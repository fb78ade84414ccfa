"""Settings of the Ottoscaler (tests/conftest.py) for pool tests: mock runtime, small limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import RuntimeKind, Settings


@pytest.fixture
def settings(task_queue: str, tmp_path: Path) -> Settings:
    return Settings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_data_dir=tmp_path,
        ottoscaler_runtime=RuntimeKind.MOCK,
        max_workers_per_task=10,
        max_workers=30,
        worker_ttl_seconds=60,
    )
