"""What `up` and `serve` claim before they start anything: the ports they listen on and,
for `up`'s dev server, the data dir that holds its database. Whatever another process
holds is said in one line, with the flag or variable that changes it, and nothing starts:
a second copy never runs beside the first one's Temporal or on its database.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from gateway.ports import (
    GRPC_PORT,
    METRICS_PORT,
    TEMPORAL_METRICS_PORT,
    TEMPORAL_PORT,
    UI_PORT,
    Port,
    PortInUse,
    in_use,
)
from gateway.settings import Settings
from gateway.temporal.devserver import DevServer

LOCK_FILE = "up.lock"
# A dev server stops 1 to 2 s after SIGTERM (devserver.py); a margin for a loaded machine.
ORPHAN_EXIT_SECONDS = 15.0


class Taken(Exception):
    """Everything another process holds, in one line."""


def listening_ports(settings: Settings, dev: DevServer | None) -> list[Port]:
    ports = [
        Port(settings.grpc_bind_host, settings.grpc_port, GRPC_PORT),
        Port(settings.metrics_bind_host, settings.metrics_port, METRICS_PORT),
        Port(settings.metrics_bind_host, settings.temporal_metrics_port, TEMPORAL_METRICS_PORT),
    ]
    if dev is not None:
        ports += [Port(dev.host, dev.port, TEMPORAL_PORT), Port(dev.host, dev.ui_port, UI_PORT)]
    return ports


@contextmanager
def claimed(settings: Settings, dev: DevServer | None) -> Iterator[None]:
    """Holds the data dir while `up` runs its dev server; raises Taken before anything
    starts when a port or the data dir is another process's."""
    with ExitStack() as held:
        taken: list[str] = []
        # The data dir first: waiting for a dead `up`'s dev server frees its ports too.
        if dev is not None:
            lock, holder = held.enter_context(_data_dir_lock(dev.data_dir))
            dev.lock_fd = lock
            if holder is not None:
                taken.append(
                    f"data dir {dev.data_dir} is in use by pid {holder} "
                    "(change it with --data-dir or OTTOSCALER_DATA_DIR)"
                )
        ports = listening_ports(settings, dev)
        taken = [str(PortInUse(port)) for port in ports if in_use(port)] + taken
        if taken:
            raise Taken("; ".join(taken))
        yield


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[tuple[int, str | None]]:
    """Locks <data_dir>/up.lock for as long as the context lasts; yields its descriptor
    and None, or the pid written by the process that holds it. The kernel drops the lock
    when the last holder exits: `up` and the dev server, which inherits it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a+") as lock:
        if not _locked(lock.fileno()):
            lock.seek(0)
            yield lock.fileno(), lock.read().strip() or "?"
            return
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield lock.fileno(), None


def _locked(fd: int) -> bool:
    """Takes the lock. If the `up` that holds it is dead, its dev server holds it while it
    stops (the kernel sent it SIGTERM): that is waited for, a few seconds at most."""
    deadline = time.monotonic() + ORPHAN_EXIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if _holder_alive(fd) or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _holder_alive(fd: int) -> bool:
    written = os.pread(fd, 32, 0).decode(errors="replace").strip()
    if not written.isdecimal():
        return True
    try:
        os.kill(int(written), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
