"""The ports Ottoscaler listens on, each with the flag or variable that moves it.

A port another process holds must stop the start with one line that says which port and
how to move it: `in_use` checks before anything starts, and `binding` turns a bind that
lost a race after that check into the same `PortInUse`.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GRPC_PORT = "--grpc-port or GRPC_PORT"
METRICS_PORT = "--metrics-port or METRICS_PORT"
TEMPORAL_METRICS_PORT = "--temporal-metrics-port or TEMPORAL_METRICS_PORT"
CODEC_PORT = "CODEC_PORT"
TEMPORAL_PORT = "--temporal-port"
UI_PORT = "--ui-port"


@dataclass(frozen=True)
class Port:
    host: str
    number: int  # 0: any free port, never in use
    knob: str  # the flag or variable that changes it


class PortInUse(Exception):
    def __init__(self, port: Port) -> None:
        super().__init__(f"{port.host}:{port.number} is in use (change it with {port.knob})")
        self.port = port


def in_use(port: Port) -> bool:
    """True when binding the port as a server does (SO_REUSEADDR) fails: someone listens."""
    if port.number == 0:
        return False
    for family, kind, proto, _, address in socket.getaddrinfo(
        port.host, port.number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    ):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    return True
    return False


@contextmanager
def binding(port: Port) -> Iterator[None]:
    """Around a bind: a failure while another process holds the port becomes PortInUse.
    (gRPC reports a failed bind as RuntimeError, without the reason; the Temporal SDK's
    metrics exporter as ValueError.)"""
    try:
        yield
    except (OSError, RuntimeError, ValueError) as error:
        if in_use(port):
            raise PortInUse(port) from error
        raise


def listened_on_by(pid: int, number: int) -> bool:
    """True when process pid itself listens on TCP port `number` (Linux /proc; elsewhere
    unknown, so True)."""
    if sys.platform != "linux":
        return True
    listeners = _listening_sockets(number)
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # it has exited
        return False
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listeners:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


def _listening_sockets(number: int) -> set[str]:
    """`socket:[inode]` of every TCP socket listening on the port, as /proc/<pid>/fd names them."""
    found: set[str] = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        try:
            rows = table.read_text().splitlines()[1:]
        except OSError:  # no IPv6
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == number:  # 0A: LISTEN
                found.add(f"socket:[{inode}]")
    return found
