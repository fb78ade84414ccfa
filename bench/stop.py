"""How fast and how quietly `ottoscaler up` stops on Ctrl-C, idle and during a pipeline.

Runs `ottoscaler up --runtime local` in a session of its own, as a terminal runs a command,
sends SIGINT to its process group as Ctrl-C does, and times it until it has exited. Busy:
a stage's worker (`sleep 60`) is running and an ExecutePipeline stream is open. Counts the
WARN lines it printed and checks that its dev server is gone.

    .venv/bin/python -m bench.stop
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from grpc import aio

from bench.ports import free_port
from bench.report import Figure, report
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

RUNS = 3
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 60.0
TARGET_SECONDS = 5.0


class Stack:
    """One `ottoscaler up` in its own session, its output in a file."""

    def __init__(self, data_dir: Path) -> None:
        self.grpc_port = free_port()
        self.output = data_dir / "up.out"
        data_dir.mkdir(parents=True)
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "ottoscaler"),
                    "up",
                    "--runtime=local",
                    f"--data-dir={data_dir}",
                    f"--grpc-port={self.grpc_port}",
                    f"--metrics-port={free_port()}",
                    f"--temporal-port={free_port()}",
                    f"--ui-port={free_port()}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "Temporal:" not in self.output.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"`ottoscaler up` did not start:\n{self.output.read_text()}")
            time.sleep(0.1)
        self.children = _children(self.process.pid)

    def ctrl_c(self) -> float:
        """Seconds from SIGINT to its group until `up` has exited and its children are gone."""
        start = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(STOP_TIMEOUT_SECONDS)
        while any(Path(f"/proc/{pid}").exists() for pid in self.children):
            time.sleep(0.01)
        return time.monotonic() - start

    def warnings(self) -> int:
        """The Temporal core's WARN lines (colored: no plain spaces around the word)."""
        return len(re.findall(r"\bWARN\b", self.output.read_text()))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited meanwhile
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


async def _running_pipeline(
    address: str,
) -> aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress]:
    """Starts a one-stage pipeline and returns its open stream once the worker runs."""
    channel = aio.insecure_channel(address)
    stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
    request = pb.PipelineRequest(
        pipeline_id=f"stop-{uuid.uuid4().hex[:8]}",
        stages=[pb.PipelineStage(stage_id="sleep", command=["sleep", "60"], worker_count=1)],
    )
    stream = stub.ExecutePipeline(request)
    async for event in stream:
        if event.stage_id == "sleep" and event.worker_pod_names:
            return stream
    raise RuntimeError("the stream ended before the worker ran")


async def _measure(busy: bool, data_dir: Path) -> tuple[float, int]:
    stack = Stack(data_dir)
    try:
        if busy:
            stream = await _running_pipeline(f"127.0.0.1:{stack.grpc_port}")
            seconds = await asyncio.to_thread(stack.ctrl_c)
            stream.cancel()
        else:
            seconds = stack.ctrl_c()
    finally:
        if stack.process.poll() is None:
            stack.process.kill()
    assert stack.process.returncode == 0, stack.output.read_text()
    return seconds, stack.warnings()


def run() -> None:
    rows: dict[str, dict[str, Figure]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for busy in (False, True):
            runs = [asyncio.run(_measure(busy, Path(tmp) / f"{busy}-{n}")) for n in range(RUNS)]
            rows["busy (a worker running, a stream open)" if busy else "idle"] = {
                "max_s": round(max(s for s, _ in runs), 2),
                "min_s": round(min(s for s, _ in runs), 2),
                "warn_lines": sum(w for _, w in runs),
            }
    report(
        "stop",
        rows,
        {"seconds from Ctrl-C to exit": f"< {TARGET_SECONDS}", "WARN lines": "0"},
    )


if __name__ == "__main__":
    run()
