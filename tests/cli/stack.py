"""`ottoscaler up --runtime mock` as a subprocess, and the CLIs run against it as users run them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import free_port
from tests.e2e.test_up import START_TIMEOUT, wait_for_line

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Stack:
    address: str
    temporal_address: str
    data_dir: Path
    # What `up` wrote to stderr: its settings print and its log.
    log: Path


@contextmanager
def mock_stack(workdir: Path) -> Iterator[Stack]:
    grpc_port, temporal_port = free_port(), free_port()
    stack = Stack(
        f"127.0.0.1:{grpc_port}",
        f"127.0.0.1:{temporal_port}",
        workdir / "data",
        workdir / "up.log",
    )
    with stack.log.open("w") as log:
        process = subprocess.Popen(
            [
                str(BIN / "ottoscaler"), "up", "--runtime", "mock",
                "--data-dir", str(stack.data_dir), "--grpc-port", str(grpc_port),
                "--temporal-port", str(temporal_port), "--ui-port", str(free_port()),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )  # fmt: skip
    try:
        wait_for_line(process, "Ottoscaler gRPC", START_TIMEOUT)
        yield stack
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


async def start(
    program: str, *argv: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(BIN / program),
        *argv,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process, stdin: str = "") -> Result:
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 120)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def run(
    program: str, *argv: str, stdin: str = "", env: dict[str, str] | None = None
) -> Result:
    return await finished(await start(program, *argv, env=env), stdin)
