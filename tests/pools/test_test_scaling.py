"""`test-scaling` end to end against `ottoscaler up --runtime mock` as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import free_port
from tests.e2e.test_up import START_TIMEOUT, wait_for_line

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    grpc_port = free_port()
    data = tmp_path_factory.mktemp("up")
    process = subprocess.Popen(
        [
            str(BIN / "ottoscaler"),
            "up",
            "--runtime",
            "mock",
            "--data-dir",
            str(data),
            "--grpc-port",
            str(grpc_port),
            "--temporal-port",
            str(free_port()),
            "--ui-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_line(process, "Ottoscaler gRPC", START_TIMEOUT)
        yield f"127.0.0.1:{grpc_port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def scaling(server: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "test-scaling"), "-server", server, *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.e2e
def test_scale_up_watch_status_and_scale_down(server: str) -> None:
    task = f"cli-{uuid.uuid4().hex[:8]}"
    up = scaling(
        server, "-action", "scale-up", "-workers", "3", "-task", task,
        "-config", "mock.duration=1", "-watch", "-timeout", "30s",
    )  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    assert "scale-up: SUCCESS, 3 workers" in up.stdout
    assert f"task {task}: 3 workers, 3 running" in up.stdout  # the live table, first...
    assert f"task {task}: 3 workers, 0 running, 0 pending, 3 succeeded" in up.stdout  # ...last

    listed = scaling(server, "-action", "status", "-task", task)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("Succeeded") == 3

    too_many = scaling(server, "-action", "scale-up", "-workers", "51", "-task", task)
    assert too_many.returncode == 2
    assert "INVALID_ARGUMENT" in too_many.stderr and "MAX_WORKERS_PER_TASK=50" in too_many.stderr

    down = scaling(server, "-action", "scale-down", "-task", task)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "scale-down: SUCCESS, 3 workers" in down.stdout
    assert "0 workers" in scaling(server, "-action", "status", "-task", task).stdout
