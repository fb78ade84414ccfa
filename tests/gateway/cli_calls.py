"""The CLI clients run as users run them: a subprocess with its own environment."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


async def _exit_and_stderr(env: dict[str, str | None], program: str, *argv: str) -> tuple[int, str]:
    """program run with env's variables set (None: removed); its exit code and stderr."""
    merged = {key: value for key, value in os.environ.items() if key not in env}
    merged.update({key: value for key, value in env.items() if value is not None})
    process = await asyncio.create_subprocess_exec(
        str(BIN / program),
        *argv,
        env=merged,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def scaling_status(port: int, env: dict[str, str | None]) -> tuple[int, str]:
    """`test-scaling -action status` against 127.0.0.1:port."""
    server = f"127.0.0.1:{port}"
    return await _exit_and_stderr(env, "test-scaling", "-server", server, "-action", "status")


async def pipeline_list(port: int, env: dict[str, str | None]) -> tuple[int, str]:
    """`ottoscaler list` against 127.0.0.1:port."""
    return await _exit_and_stderr(env, "ottoscaler", "list", "--server", f"127.0.0.1:{port}")
