"""`ottoscaler serve` as a real subprocess, configured by environment like a Deployment's pod."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
BANNER = "Ottoscaler gRPC: "
# Variables that would point the subprocess at a real cluster or another owner.
_NOT_INHERITED = ("KUBERNETES_SERVICE_HOST", "POD_NAME", "POD_NAMESPACE", "OTTOSCALER_OWNER")


class Serve:
    """One running process and the gRPC address it announced."""

    def __init__(self, process: asyncio.subprocess.Process, address: str, log: Path) -> None:
        self.process = process
        self.address = address
        self.log = log

    def logged_errors(self) -> list[str]:
        """Lines an operator would look into: errors and tracebacks."""
        lines = self.log.read_text().splitlines()
        return [line for line in lines if " ERROR " in line or line.startswith("Traceback")]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # it has exited already
            self.process.kill()


async def _announced_address(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        if line.startswith(BANNER):
            return line.removeprefix(BANNER).strip()
    raise AssertionError(f"`ottoscaler serve` exited with {await process.wait()} before serving")


async def start_serve(env: Mapping[str, str], log: Path, wrapper: Sequence[str] = ()) -> Serve:
    """Starts the process (GRPC_PORT=0: it binds a free port) and waits for its banner.
    wrapper: a command that runs it (e.g. in another user namespace)."""
    environ = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            *wrapper,
            str(BIN / "ottoscaler"),
            "serve",
            env={**environ, **env, "GRPC_PORT": "0"},
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    try:
        address = await asyncio.wait_for(_announced_address(process), START_TIMEOUT)
    except BaseException:
        process.kill()
        await process.wait()
        raise
    return Serve(process, address, log)


# Starts one more process of the test's deployment (tests/reliability/conftest.py).
Launch = Callable[[], Awaitable[Serve]]
