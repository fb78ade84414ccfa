"""The supervisor of one local worker: it runs the command and outlives the Ottoscaler that
started it, as a pod outlives a replica; a restarted Ottoscaler adopts it by its directory.

The runtime starts it as `python -I -S supervisor.py DIRECTORY TIMEOUT COMMAND...` with the
worker's environment, never Ottoscaler's; -I keeps any PYTHON* variable of that env from
changing it. It imports only small parts of the standard library (subprocess, json and
pathlib would double its start time and add 2 MB to each worker).

1. It forks and its parent exits, so that no Ottoscaler ever has to reap it; it starts its
   own session (no terminal's Ctrl-C or hang-up reaches it) and prints its pid.
2. It waits for GO on stdin, which the runtime sends once it has recorded that pid: a
   command never runs unless a later Ottoscaler can find its supervisor.
3. It starts the command in a process group of its own (a timeout or a delete kills the
   whole group, the supervisor aside), writes STARTED and prints "started", or "error ...".
4. It copies the command's stdout and stderr into OUTPUT as records (when it was read, the
   stream, the bytes), an empty record where a stream ends; the runtime makes the lines.
   At the deadline it kills the group.
5. Once the command has ended and its output is closed, it writes STATUS.

Each JSON file appears whole (written aside, then renamed): a reader finds it complete or
not at all.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import struct
import sys
import time

GO = "go"
OUTPUT = "output"
STARTED = "started.json"
STATUS = "status.json"
# A record's header: when it was read (ns since the epoch), its stream, its length.
RECORD = struct.Struct("<qBI")
STDOUT_STREAM, STDERR_STREAM = 1, 2
READ_BYTES = 64 * 1024


def write_whole(path: str | os.PathLike[str], text: str) -> None:
    path = os.fspath(path)
    aside = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    with open(aside, "w") as file:
        file.write(text)
    os.replace(aside, path)


def _json(**fields: int) -> str:
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"


def _say(line: str) -> None:
    """A line to the runtime, which may be gone: the worker goes on without it."""
    with contextlib.suppress(OSError):
        print(line, flush=True)


def _spawn(argv: list[str]) -> tuple[int, dict[int, int]]:
    """Starts argv in a process group of its own; its pid, and its output's pipes."""
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2),
            ],
            setpgroup=0,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # which Python ignores
        )
    finally:
        os.close(out_write)
        os.close(err_write)
    return pid, {out_read: STDOUT_STREAM, err_read: STDERR_STREAM}


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _supervise(
    pid: int, streams: dict[int, int], output: str, deadline: float | None
) -> tuple[int, bool]:
    """Copies the command's output until the command has ended and its output is closed;
    kills its group at the deadline. Its exit code (negative: the signal that killed it),
    and whether the deadline did."""
    command = os.pidfd_open(pid)
    code = 0
    killed = False
    with selectors.DefaultSelector() as selector, open(output, "ab") as records:
        for fd in (*streams, command):
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(_left(deadline))
            if not ready and deadline is not None and time.monotonic() >= deadline:
                # Its group outlives it while any member, maybe holding the output, lives.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                killed, deadline = True, None
            for key, _ in ready:
                if key.fd == command:
                    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                else:
                    chunk = os.read(key.fd, READ_BYTES)
                    records.write(RECORD.pack(time.time_ns(), streams[key.fd], len(chunk)))
                    records.write(chunk)
                    records.flush()
                    if chunk:
                        continue
                selector.unregister(key.fd)  # ended, or closed
                os.close(key.fd)
    return code, killed


def main(directory: str, timeout: float, argv: list[str]) -> int:
    if os.fork():
        os._exit(0)
    os.setsid()
    _say(str(os.getpid()))
    if sys.stdin.readline().strip() != GO:
        return 1  # the runtime did not record this supervisor: run nothing
    output = os.path.join(directory, OUTPUT)
    open(output, "ab").close()
    try:
        pid, streams = _spawn(argv)
    except OSError as err:
        _say(f"error {err}")
        return 1
    deadline = time.monotonic() + timeout if timeout > 0 else None
    write_whole(os.path.join(directory, STARTED), _json(command_pid=pid, started_at=time.time_ns()))
    _say("started")
    with open(os.devnull, "r+b") as nothing:  # the runtime's pipes are not needed any more
        os.dup2(nothing.fileno(), 0)
        os.dup2(nothing.fileno(), 1)
    code, killed = _supervise(pid, streams, output, deadline)
    status = _json(exit_code=code, deadline_exceeded=int(killed), finished_at=time.time_ns())
    write_whole(os.path.join(directory, STATUS), status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:]))
