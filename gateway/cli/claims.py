"""What `up` and `serve` claim before they start anything: the ports they listen on and,
for `up`'s dev server, the data dir that holds its database. Whatever another process
holds is said in one line, with the flag or variable that changes it, and nothing starts:
a second copy never runs beside the first one's Temporal or on its database.
"""

from __future__ import annotations

import fcntl
import os
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
        taken = [str(PortInUse(port)) for port in listening_ports(settings, dev) if in_use(port)]
        if dev is not None:
            holder = held.enter_context(_data_dir_lock(dev.data_dir))
            if holder is not None:
                taken.append(
                    f"data dir {dev.data_dir} is in use by pid {holder} "
                    "(change it with --data-dir or OTTOSCALER_DATA_DIR)"
                )
        if taken:
            raise Taken("; ".join(taken))
        yield


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[str | None]:
    """Locks <data_dir>/up.lock for as long as the context lasts; yields None, or the pid
    written by the process that holds it. The kernel drops the lock when a holder dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            yield lock.read().strip() or "?"
            return
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield None
