"""Settings of the Ottoscaler that tests/conftest.py runs for each gateway test.

Tests choose the runtime with `@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])`;
the default is the mock runtime.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.settings import RuntimeKind, Settings


@pytest.fixture
def settings(task_queue: str, runtime_kind: RuntimeKind, tmp_path: Path) -> Settings:
    return Settings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_data_dir=tmp_path,
        ottoscaler_runtime=runtime_kind,
        max_workers_per_task=10,
    )
