"""The dev server of `ottoscaler up` SIGKILLed: health says NOT_SERVING, calls answer
UNAVAILABLE, `up` starts it again on the same database and port, and a pipeline printing
across the outage completes, its every line archived and forwarded to otto-handler once
and in order; or, when it cannot, `up` exits non-zero saying why.

To hold the outage open as long as the test needs, `up` is frozen (SIGSTOP) while its dev
server is killed and the test takes the dev server's port (or its database); `up` then
resumes, and its restarts fail until the test lets the port go.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.e2e.processes import alive, descendants, free_port
from tests.e2e.test_up import Up, start_up, stop
from tests.logs.otto_handler import FakeOttoHandler, served_from_a_thread

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
WITHIN = 60.0  # bounds, not timings: the machine is shared
# The pipeline open across the outage: its worker prints a line every 0.1 s.
LINES, PRINT_SECONDS = 150, 15.0


def until(condition: Callable[[], Any], within: float = WITHIN) -> Any:
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        time.sleep(0.05)
    return value


def start(data_dir: Path, temporal_port: int, stderr: Path, otto_handler: str = "") -> Up:
    """`up` on the mock runtime, its stderr kept in a file, forwarding its workers' lines
    to `otto_handler` if given."""
    ports = ["--temporal-port", str(temporal_port), "--ui-port", str(free_port())]
    env = {"OTTO_HANDLER_ADDR": otto_handler} if otto_handler else {}
    with stderr.open("w") as err:
        return start_up(data_dir, "--runtime", "mock", *ports, stderr=err, env=env)


def dev_server(up: Up) -> int:
    """The pid of `up`'s dev server."""
    found = [
        pid
        for pid in descendants(up.process.pid)
        if b"start-dev" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(found) == 1, found
    return found[0]


@contextmanager
def dev_server_killed(up: Up) -> Iterator[int]:
    """Kills `up`'s dev server while `up` is frozen, so that nothing starts it again while
    inside; yields the killed pid. `up` resumes on leaving."""
    pid = dev_server(up)
    up.process.send_signal(signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)
        until(lambda: not alive(pid))  # a zombie until `up` resumes
        yield pid
    finally:
        up.process.send_signal(signal.SIGCONT)


def bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def health_of(channel: grpc.Channel) -> int:
    health: Any = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    status: int = answer.status
    return status


def mock_pipeline(duration: float = 0, lines: int = 0) -> pb.PipelineRequest:
    """A worker running `duration` seconds, printing `lines` lines over them."""
    config = {"mock.duration": str(duration)}
    if lines:
        config |= {"mock.lines": str(lines), "mock.line_rate": str(lines / duration)}
    return pb.PipelineRequest(
        pipeline_id=f"outage-{uuid.uuid4().hex[:8]}",
        name="outage",
        stages=[pb.PipelineStage(stage_id="build", type="test", config=config)],
    )


def run(stub: pb_grpc.OttoscalerServiceStub, req: pb.PipelineRequest) -> pb.PipelineProgress:
    events = list(stub.ExecutePipeline(req, timeout=120))
    return events[-1]


@pytest.fixture
def temporal_port() -> int:
    return free_port()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_killed_dev_server_is_restarted_and_health_follows_the_outage(
    tmp_path: Path, temporal_port: int
) -> None:
    with served_from_a_thread() as (otto_handler, otto_handler_addr):
        up = start(tmp_path / "data", temporal_port, tmp_path / "up.err", otto_handler_addr)
        try:
            _outage_and_back(up, temporal_port, otto_handler)
            assert up.process.poll() is None, "up must keep running"
        finally:
            stop(up)


def _outage_and_back(up: Up, temporal_port: int, otto_handler: FakeOttoHandler) -> None:
    """The dev server killed and kept down while a pipeline's worker prints; its lines as
    StreamWorkerLogs and otto-handler's stand-in have them once it has completed."""
    with grpc.insecure_channel(up.address) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        before = mock_pipeline()
        assert run(stub, before).status == pb.STAGE_COMPLETED
        assert health_of(channel) == SERVING
        # A stream open across the outage goes on once Temporal is back, and its worker
        # prints before, during and after it.
        printing = mock_pipeline(duration=PRINT_SECONDS, lines=LINES)
        across = stub.ExecutePipeline(printing, timeout=240)
        assert next(across).status == pb.STAGE_RUNNING
        until(lambda: sum(map(len, dict(otto_handler.accepted).values())) >= 5)

        with socket.socket() as taken:
            with dev_server_killed(up) as killed:
                taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # The killed server's last threads may still be closing its sockets.
                until(lambda: bound(taken, temporal_port))
                taken.listen()
            # `up` restarts its dev server in vain while the port is taken.
            until(lambda: health_of(channel) == NOT_SERVING)
            with pytest.raises(grpc.RpcError) as outage:
                stub.GetPipeline(pb.PipelineRef(pipeline_id=before.pipeline_id), timeout=60)
            assert outage.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "unreachable" in str(outage.value.details())
            with pytest.raises(grpc.RpcError) as started:
                run(stub, mock_pipeline())
            assert started.value.code() == grpc.StatusCode.UNAVAILABLE

        until(lambda: health_of(channel) == SERVING)
        assert dev_server(up) != killed
        # The same database: the pipeline of before is still there.
        snapshot = stub.GetPipeline(pb.PipelineRef(pipeline_id=before.pipeline_id))
        assert snapshot.status == pb.STAGE_COMPLETED
        assert run(stub, mock_pipeline()).status == pb.STAGE_COMPLETED
        rest = list(across)
        assert (rest[-1].stage_id, rest[-1].status) == ("", pb.STAGE_COMPLETED)
        logs = pb.WorkerLogsRequest(pipeline_id=printing.pipeline_id)
        entries = list(stub.StreamWorkerLogs(logs, timeout=60))
    expected = [(n, f"line {n}") for n in range(1, LINES + 1)]
    assert [(entry.sequence, entry.message) for entry in entries] == expected
    (pod,) = {entry.worker_id for entry in entries}
    until(lambda: len(otto_handler.accepted.get(pod, [])) >= LINES)
    assert otto_handler.accepted[pod] == list(range(1, LINES + 1))
    # Each sent once: none again after a lost answer or a resumed tail.
    assert [entry.sequence for entry in otto_handler.received] == list(range(1, LINES + 1))


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_up_exits_saying_why_when_its_dev_server_cannot_be_restarted(
    tmp_path: Path, temporal_port: int
) -> None:
    data = tmp_path / "data"
    up = start(data, temporal_port, tmp_path / "up.err")
    try:
        with dev_server_killed(up):
            # A directory where the database was: no dev server can start on it.
            (data / "temporal.db").rename(data / "temporal.db.kept")
            (data / "temporal.db").mkdir()
        code = up.process.wait(timeout=240)
        assert code != 0
        last = (tmp_path / "up.err").read_text().splitlines()[-1]
        assert last.startswith("ottoscaler up: the Temporal dev server was killed by SIGKILL")
        assert "did not come back after" in last, last
    finally:
        stop(up)
