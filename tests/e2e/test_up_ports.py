"""A port or a data dir another process holds: `ottoscaler up` says which in one line,
with the flag or variable that changes it, exits 2 and leaves nothing running."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from gateway.ports import PortInUse
from gateway.temporal.devserver import DevServer
from tests.e2e.processes import free_port, mentioning
from tests.e2e.stack import Ports, Stack, run_to_end, up_command

KNOBS = {
    "grpc": "--grpc-port or GRPC_PORT",
    "metrics": "--metrics-port or METRICS_PORT",
    "temporal_metrics": "--temporal-metrics-port or TEMPORAL_METRICS_PORT",
    "temporal": "--temporal-port",
    "ui": "--ui-port",
}


def in_use(port: int, knob: str) -> str:
    return f"127.0.0.1:{port} is in use (change it with {knob})"


@pytest.fixture
def listener() -> Iterator[int]:
    """A port some other program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.e2e
@pytest.mark.parametrize("taken", list(KNOBS))
def test_a_port_in_use_is_named_with_its_flag_and_nothing_starts(
    taken: str, listener: int, tmp_path: Path
) -> None:
    ports = dataclasses.replace(Ports.free(), **{taken: listener})
    result = run_to_end(up_command(tmp_path / "data", ports))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"ottoscaler up: {in_use(listener, KNOBS[taken])}"]
    assert result.stdout == ""
    assert mentioning(str(tmp_path)) == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("shared", "loser"),
    [
        # The dev server binds it first, then the metrics endpoint cannot.
        (("temporal", "metrics"), "metrics"),
        # The metrics endpoint binds it first, then the gateway cannot.
        (("metrics", "grpc"), "grpc"),
        # The Temporal SDK's metrics endpoint binds it first, then the dev server cannot.
        (("temporal_metrics", "temporal"), "temporal"),
    ],
)
def test_a_bind_that_fails_after_the_check_is_named_too(
    shared: tuple[str, str], loser: str, tmp_path: Path
) -> None:
    port = free_port()
    ports = dataclasses.replace(Ports.free(), **dict.fromkeys(shared, port))
    result = run_to_end(up_command(tmp_path / "data", ports))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == f"ottoscaler up: {in_use(port, KNOBS[loser])}"
    assert mentioning(str(tmp_path)) == []  # the dev server too


@pytest.mark.e2e
def test_a_second_up_beside_a_running_one_refuses_in_one_line(tmp_path: Path) -> None:
    ports = Ports.free()
    first = Stack(tmp_path / "data", ports)
    try:
        # `make run` twice: every port and the data dir are the first one's.
        again = run_to_end(up_command(tmp_path / "data", ports))
        assert again.returncode == 2
        assert again.stderr.splitlines() == [
            "ottoscaler up: "
            + "; ".join(in_use(getattr(ports, name), knob) for name, knob in KNOBS.items())
            + f"; data dir {tmp_path / 'data'} is in use by pid {first.process.pid} "
            "(change it with --data-dir or OTTOSCALER_DATA_DIR)"
        ]
        # Ports of its own, the same data dir: its dev server would share the database.
        beside = run_to_end(up_command(tmp_path / "data", Ports.free()))
        assert beside.returncode == 2
        assert beside.stderr.splitlines() == [
            f"ottoscaler up: data dir {tmp_path / 'data'} is in use by pid "
            f"{first.process.pid} (change it with --data-dir or OTTOSCALER_DATA_DIR)"
        ]
        assert first.process.poll() is None
        assert set(mentioning(str(tmp_path))) == {first.process.pid, *first.children}
    finally:
        first.kill()


async def test_the_dev_server_never_hands_out_a_client_of_another_temporal(
    client: Client, tmp_path: Path
) -> None:
    # As if the port was taken between `up`'s check and the dev server's start.
    taken = int(client.service_client.config.target_host.rsplit(":", 1)[1])
    dev = DevServer(tmp_path, "127.0.0.1", taken, free_port())
    try:
        with pytest.raises(PortInUse, match=f"127.0.0.1:{taken} is in use"):
            await dev.start("default")
    finally:
        dev.stop()
