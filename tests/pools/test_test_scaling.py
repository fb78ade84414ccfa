"""`test-scaling` end to end against `ottoscaler up --runtime mock` as a subprocess."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.stack import mock_stack

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mock_stack(tmp_path_factory.mktemp("up")) as stack:
        yield stack.address


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
    assert "scale-up: SUCCESS, 3 workers: created 3 workers for task" in up.stdout
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


@pytest.mark.e2e
def test_status_and_scale_down_without_a_task_mean_every_task(server: str) -> None:
    tasks = [f"cli-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for task in tasks:
        up = scaling(
            server, "-action", "scale-up", "-workers", "1", "-task", task,
            "-config", "mock.duration=300",
        )  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"scale-up: SUCCESS, 1 worker: created 1 worker for task {task}" in up.stdout

    every = scaling(server, "-action", "status")
    assert every.returncode == 0, every.stderr
    assert every.stdout.startswith("every task: ")
    assert all(f"otto-agent-{task}-0-" in every.stdout for task in tasks)

    down = scaling(server, "-action", "scale-down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert all(f"otto-agent-{task}-0-" in down.stdout for task in tasks)
    for task in tasks:
        assert (
            f"task {task}: 0 workers" in scaling(server, "-action", "status", "-task", task).stdout
        )
