"""GetWorkerStatus latency with 1,000 workers, and ScaleUp of 100 workers end to end.

Runs `ottoscaler up --runtime mock` as a subprocess (the whole stack: Temporal dev server,
worker, gateway), fills it through ScaleUp with 10 pools of 100 long-running workers, then
times GetWorkerStatus from this process over gRPC, and finally one ScaleDown of every pool.
Like timeit, it pauses this process's garbage collector while timing: the figures are the
service's, not the benchmark client's.

    .venv/bin/python -m bench.status
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from grpc import aio

from bench.ports import free_port
from bench.report import Figure, latency_summary, report
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

POOLS = 10
WORKERS_PER_POOL = 100
CALLS = 2000
WARM_UP_CALLS = 200
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 60.0
TARGET_P99_MS = 5.0


@contextmanager
def ottoscaler_up(data_dir: Path) -> Iterator[str]:
    """The mock stack on free loopback ports; yields its gRPC address."""
    port = free_port()
    env = {
        **os.environ,
        "MAX_WORKERS": str(POOLS * WORKERS_PER_POOL),
        "MAX_WORKERS_PER_TASK": str(WORKERS_PER_POOL),
        "LOG_LEVEL": "warning",
    }
    argv = [
        str(Path(sys.executable).parent / "ottoscaler"),
        "up",
        "--runtime=mock",
        f"--data-dir={data_dir}",
        f"--grpc-port={port}",
        f"--temporal-port={free_port()}",
        f"--ui-port={free_port()}",
    ]
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        assert process.stdout is not None
        while "Ottoscaler gRPC" not in process.stdout.readline():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ottoscaler up did not start")
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()  # its dev server dies with it (parent-death signal)
            process.wait()


async def timed(call: Callable[[], Awaitable[object]], times: int) -> list[float]:
    seconds = []
    gc.disable()
    try:
        for _ in range(times):
            began = time.perf_counter()
            await call()
            seconds.append(time.perf_counter() - began)
    finally:
        gc.enable()
    return seconds


async def fill(stub: pb_grpc.OttoscalerServiceAsyncStub) -> tuple[list[str], list[float]]:
    """POOLS ScaleUps of WORKERS_PER_POOL workers each, one after the other."""
    tasks = [f"bench-{uuid.uuid4().hex[:8]}" for _ in range(POOLS)]
    seconds = []
    for task in tasks:
        request = pb.ScaleRequest(
            task_id=task,
            worker_count=WORKERS_PER_POOL,
            build_config={"mock.duration": "3600"},
        )
        began = time.perf_counter()
        answer = await stub.ScaleUp(request)
        seconds.append(time.perf_counter() - began)
        assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    return tasks, seconds


async def measure(address: str) -> dict[str, dict[str, Figure]]:
    rows: dict[str, dict[str, Figure]] = {}
    async with aio.insecure_channel(address) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        tasks, scale_ups = await fill(stub)
        rows[f"ScaleUp {WORKERS_PER_POOL} workers"] = {
            "samples": len(scale_ups),
            **latency_summary(scale_ups),
        }
        everyone = await stub.GetWorkerStatus(pb.WorkerStatusRequest())
        assert everyone.running_count == POOLS * WORKERS_PER_POOL, everyone.total_count
        one_worker = everyone.workers[0].pod_name
        queries = {
            f"GetWorkerStatus all {everyone.total_count}": pb.WorkerStatusRequest(),
            f"GetWorkerStatus one task ({WORKERS_PER_POOL})": pb.WorkerStatusRequest(
                task_id=tasks[0]
            ),
            "GetWorkerStatus one task, running": pb.WorkerStatusRequest(
                task_id=tasks[1], status_filter="running"
            ),
            "GetWorkerStatus one worker": pb.WorkerStatusRequest(worker_pod_name=one_worker),
        }
        for name, query in queries.items():

            async def ask(query: pb.WorkerStatusRequest = query) -> object:
                return await stub.GetWorkerStatus(query)

            await timed(ask, WARM_UP_CALLS)
            rows[name] = {"samples": CALLS, **latency_summary(await timed(ask, CALLS))}
        began = time.perf_counter()
        down = await stub.ScaleDown(pb.ScaleRequest(task_id="", worker_count=0))
        rows["ScaleDown every pool to 0"] = {
            "deleted": down.processed_count,
            "seconds": round(time.perf_counter() - began, 2),
        }
    return rows


def run() -> None:
    """Measures and reports (what `make bench` calls)."""
    with tempfile.TemporaryDirectory() as data_dir, ottoscaler_up(Path(data_dir)) as address:
        rows = asyncio.run(measure(address))
    report(
        "status",
        rows,
        {
            "GetWorkerStatus p99": f"<= {TARGET_P99_MS} ms with "
            f"{POOLS * WORKERS_PER_POOL} workers on the mock runtime",
        },
    )


if __name__ == "__main__":
    run()
