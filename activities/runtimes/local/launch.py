"""Starting a worker's supervisor (supervisor.py) and talking it through the start.

The supervisor prints its pid; `record` writes it down (the worker's WORKER file) and
only then does the supervisor hear GO and start the command, so every command that runs
has a supervisor a later runtime can find. Its answer says whether the command started.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from activities.runtimes.local import supervisor
from activities.runtimes.protocol import PermanentRuntimeError, TransientRuntimeError

SUPERVISOR = Path(supervisor.__file__)


async def launch(
    directory: Path,
    argv: Sequence[str],
    env: Mapping[str, str],
    timeout_seconds: int,
    record: Callable[[int], None],
) -> None:
    """Starts argv under a supervisor in directory; record(pid) must write the pid down.

    Raises PermanentRuntimeError when the command cannot start (no such file, not
    executable), TransientRuntimeError when the supervisor could not.
    """
    command = [sys.executable, "-I", "-S", str(SUPERVISOR), str(directory), str(timeout_seconds)]
    try:
        starter = await asyncio.create_subprocess_exec(
            *command,
            *argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as err:
        raise TransientRuntimeError(f"local runtime: cannot start a supervisor: {err}") from err
    assert starter.stdin is not None and starter.stdout is not None
    try:
        pid = (await starter.stdout.readline()).strip()
        if not pid.isdigit():
            raise TransientRuntimeError("local runtime: a supervisor ended before it began")
        record(int(pid))
        starter.stdin.write(f"{supervisor.GO}\n".encode())
        starter.stdin.close()
        answer = (await starter.stdout.readline()).decode().strip()
    finally:
        starter.stdin.close()
        await starter.wait()  # the supervisor's parent, which left at once
    if answer.startswith("error "):
        raise PermanentRuntimeError(f"command: cannot start {argv[0]!r}: {answer[6:]}")
    if answer != "started":
        raise TransientRuntimeError("local runtime: a supervisor ended before the command started")
