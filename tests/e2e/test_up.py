"""`ottoscaler up` as a subprocess, driven by `test-pipeline`, then stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import pytest
from temporalio.client import Client

from tests.e2e.processes import alive, descendants, free_port

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


class Up:
    def __init__(self, process: subprocess.Popen[str], grpc_port: int) -> None:
        self.process = process
        self.address = f"127.0.0.1:{grpc_port}"
        self.banner: list[str] = []


def wait_for_line(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed; got {lines}")


def start_up(
    data_dir: Path,
    *extra: str,
    grpc_port: int = 0,
    stderr: IO[str] | int = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
) -> Up:
    """env: variables set for `up` besides this process's own."""
    grpc_port = grpc_port or free_port()
    process = subprocess.Popen(
        [
            str(BIN / "ottoscaler"),
            "up",
            "--data-dir",
            str(data_dir),
            "--grpc-port",
            str(grpc_port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, **(env or {})},
    )
    up = Up(process, grpc_port)
    try:
        up.banner = wait_for_line(process, "Ottoscaler gRPC", START_TIMEOUT)
    except BaseException:
        stop(up)
        raise
    return up


def stop(up: Up) -> None:
    if up.process.poll() is None:
        up.process.kill()
        up.process.wait()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    ports = ["--temporal-port", str(free_port()), "--ui-port", str(free_port())]
    running = start_up(tmp_path / "data", "--runtime", "local", *ports)
    try:
        yield running
    finally:
        stop(running)


@pytest.mark.e2e
def test_full_pipeline_runs_and_sigterm_leaves_no_process(up: Up) -> None:
    result = subprocess.run(
        [str(BIN / "test-pipeline"), "-server", up.address, "-type", "full", "-timeout", "2m"],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pipeline completed" in result.stdout
    assert "smoke-tests      COMPLETED" in result.stdout

    started = descendants(up.process.pid)
    assert started, "up should run the Temporal dev server as a child"
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in started):
        time.sleep(0.05)
    assert not [pid for pid in started if alive(pid)]


@pytest.mark.e2e
def test_up_with_temporal_address_uses_that_server_and_starts_none(
    client: Client, tmp_path: Path
) -> None:
    address = client.service_client.config.target_host
    running = start_up(tmp_path / "data", "--runtime", "mock", "--temporal-address", address)
    try:
        assert not descendants(running.process.pid), "no dev server may be started"
        banner = running.banner + wait_for_line(running.process, "Temporal:", 10)
        assert not any("Web UI" in line for line in banner)
        assert address in banner[-1]
        result = subprocess.run(
            [str(BIN / "test-pipeline"), "-server", running.address, "-type", "parallel"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        stop(running)
