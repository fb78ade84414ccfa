"""Logs: how fast a mock worker's lines reach a StreamWorkerLogs client, and how late.

    .venv/bin/python -m bench.logs [--lines 200000] [--seconds 10] [--forwarded-lines 50000]

Ottoscaler (worker + gateway, mock runtime, Temporal dev server) runs in this process;
the client runs in its own process, as otto-handler would. Rows:

- throughput: one pipeline, one worker printing --lines as fast as it can, followed by a
  client from before the first line; lines/s from the first line printed to the last
  received.
  Once through StreamWorkerLogBatches (many lines a message), once through
  StreamWorkerLogs (a message a line).
- latency: one worker printing 1,000 lines/s for --seconds; per line, from the time it
  was printed (its timestamp) to its arrival at a StreamWorkerLogs client.
- log path without gRPC: the same worker into tail, archive and live hub, read by an
  in-process follower, from the first line printed to the last read: what the path
  costs before gRPC.
- forwarded to otto-handler: a worker printing --forwarded-lines as fast as it can (with
  the default window of one line in flight, then with OTTO_HANDLER_LOG_WINDOW=64), and
  one at 1,000 lines/s, with OTTO_HANDLER_ADDR set; received by an otto-handler
  stand-in in the client process that ACKs every entry at once.
- bare gRPC stream: a servicer sending prebuilt WorkerLogEntry messages, nothing else:
  what one Python gRPC stream carries on this machine, the ceiling of the first row.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from temporalio.client import Client

from activities.admission import Admission, SpecSigner
from activities.logs import Archive, LiveHub, LogSelector, LogSinks, follow_logs
from activities.runtimes.mock.runtime import MockRuntime
from bench.ports import free_port
from bench.report import Figure, latency_summary, report
from gateway.app import running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from gateway.temporal.devserver import in_memory_temporal
from gateway.worker import create_worker
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.pipeline.inputs import PipelineInput
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id

Rows = dict[str, dict[str, Figure]]
BATCHES = "throughput, StreamWorkerLogBatches"
PER_LINE = "throughput, StreamWorkerLogs"
LATENCY = "latency at 1,000 lines/s"
FORWARDED = "forwarded to otto-handler, as fast as it can"
FORWARDED_WINDOW = "forwarded to otto-handler, window 64, as fast as it can"
FORWARDED_LATENCY = "forwarded to otto-handler, latency at 1,000 lines/s"
FORWARD_TIMEOUT_SECONDS = 600.0
STAND_IN_GRACE_SECONDS = 2.0
# Without gRPC the benchmark plays the gateway too: it signs what its worker runs.
KEY = b"bench"
SIGNER = SpecSigner(KEY)


def _ready() -> None:
    """Runs in the client process once, so that its start-up is not measured."""


def _entries(
    stub: pb_grpc.OttoscalerServiceStub, request: pb.WorkerLogsRequest, batched: bool
) -> Iterator[pb.WorkerLogEntry]:
    if not batched:
        yield from stub.StreamWorkerLogs(request)
        return
    for batch in stub.StreamWorkerLogBatches(request):
        yield from batch.entries


class Arrivals:
    """When entries arrived: the first, the last, and each one's lateness after its
    timestamp (when it was printed)."""

    def __init__(self) -> None:
        self.first = 0.0
        self.first_printed = 0.0
        self.last = 0.0
        self.lateness: list[float] = []

    def add(self, entry: pb.WorkerLogEntry) -> None:
        now = time.time()
        printed = datetime.fromisoformat(entry.timestamp).timestamp()
        self.first = self.first or now
        self.first_printed = self.first_printed or printed
        self.last = now
        self.lateness.append(now - printed)

    def rate(self, *, since_printed: bool = True) -> dict[str, Figure]:
        """Lines per second from the first line's printing (or, for entries that were
        never printed, its arrival) to the last line's arrival."""
        seconds = self.last - (self.first_printed if since_printed else self.first)
        count = len(self.lateness)
        return {"lines": count, "seconds": round(seconds, 3), "lines_per_s": round(count / seconds)}

    def latency(self) -> dict[str, Figure]:
        return {"lines": len(self.lateness), **latency_summary(self.lateness)}


def _receive(address: str, request: bytes, batched: bool) -> Arrivals:
    """In the client process: follows the logs to their end. Retries until the pipeline
    exists."""
    wanted = pb.WorkerLogsRequest.FromString(request)
    arrivals = Arrivals()
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        while True:
            try:
                for entry in _entries(stub, wanted, batched):
                    arrivals.add(entry)
                return arrivals
            except grpc.RpcError as err:
                if err.code() is not grpc.StatusCode.NOT_FOUND:
                    raise
                time.sleep(0.005)


class _AckingOttoHandler(pb_grpc.OttoHandlerLogServiceServicer):
    def __init__(self, lines: int) -> None:
        self.arrivals = Arrivals()
        self.lines = lines
        self.all_in = asyncio.Event()

    async def ForwardWorkerLogs(
        self, request_iterator: AsyncIterator[pb.WorkerLogEntry], context: Any
    ) -> AsyncIterator[pb.LogForwardResponse]:
        async for entry in request_iterator:
            self.arrivals.add(entry)
            if len(self.arrivals.lateness) >= self.lines:
                self.all_in.set()
            yield pb.LogForwardResponse(status=pb.LogForwardResponse.ACK, sequence=entry.sequence)

    async def NotifyWorkerStatus(
        self, request: pb.WorkerStatusNotification, context: Any
    ) -> pb.WorkerStatusAck:
        return pb.WorkerStatusAck()


async def _serve_otto_handler(port: int, lines: int) -> Arrivals:
    handler = _AckingOttoHandler(lines)
    server = aio.server()
    pb_grpc.add_OttoHandlerLogServiceServicer_to_server(handler, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    try:
        async with asyncio.timeout(FORWARD_TIMEOUT_SECONDS):
            await handler.all_in.wait()
    finally:
        # The forwarder closes each pod's stream once its last line is settled: a grace
        # lets it, rather than cancelling the streams (which grpcio reports as errors).
        await server.stop(STAND_IN_GRACE_SECONDS)
    return handler.arrivals


def _otto_handler(port: int, lines: int) -> Arrivals:
    """In the client process: otto-handler on port, acking every entry at once, until
    `lines` entries are in."""
    return asyncio.run(_serve_otto_handler(port, lines))


async def _client(
    pool: ProcessPoolExecutor, address: str, request: pb.WorkerLogsRequest, batched: bool
) -> Arrivals:
    loop = asyncio.get_running_loop()
    wire = request.SerializeToString()
    return await loop.run_in_executor(pool, _receive, address, wire, batched)


def _printing(lines: int, rate: float) -> pb.PipelineRequest:
    config = {"mock.lines": str(lines), "mock.line_rate": str(rate)}
    return pb.PipelineRequest(
        pipeline_id=f"bench-{uuid.uuid4().hex[:8]}",
        stages=[pb.PipelineStage(stage_id="print", config=config)],
    )


def _settings(data_dir: Path, otto_handler_addr: str = "", log_window: int = 1) -> Settings:
    return Settings(
        grpc_port=0,
        temporal_task_queue=f"bench-{uuid.uuid4().hex[:8]}",
        ottoscaler_runtime=RuntimeKind.MOCK,
        ottoscaler_data_dir=data_dir,
        metrics_port=0,
        otto_handler_addr=otto_handler_addr,
        otto_handler_log_window=log_window,
    )


async def _execute(stub: pb_grpc.OttoscalerServiceAsyncStub, request: pb.PipelineRequest) -> None:
    progress = [event async for event in stub.ExecutePipeline(request)]
    assert progress[-1].status == pb.STAGE_COMPLETED


async def _through_gateway(
    client: Client, pool: ProcessPoolExecutor, data_dir: Path, lines: int, seconds: float
) -> Rows:
    rows: Rows = {}
    async with (
        running_ottoscaler(_settings(data_dir), client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        address = f"127.0.0.1:{running.grpc_port}"
        for name, request, batched in (
            (BATCHES, _printing(lines, 0), True),
            (PER_LINE, _printing(lines, 0), False),
            (LATENCY, _printing(int(seconds * 1000), 1000), False),
        ):
            follow = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id, follow=True)
            # The client polls until the pipeline exists, so it follows from the first line.
            receiving = asyncio.create_task(_client(pool, address, follow, batched))
            await _execute(stub, request)
            arrivals = await receiving
            rows[name] = arrivals.latency() if name == LATENCY else arrivals.rate()
    return rows


async def _forwarded(
    client: Client, pool: ProcessPoolExecutor, data_dir: Path, lines: int, seconds: float
) -> Rows:
    rows: Rows = {}
    loop = asyncio.get_running_loop()
    for name, request, window in (
        (FORWARDED, _printing(lines, 0), 1),
        (FORWARDED_WINDOW, _printing(lines, 0), 64),
        (FORWARDED_LATENCY, _printing(int(seconds * 1000), 1000), 1),
    ):
        port = free_port()
        count = int(request.stages[0].config["mock.lines"])
        receiving = loop.run_in_executor(pool, _otto_handler, port, count)
        # The forwarder reconnects until otto-handler listens, as after its restart.
        settings = _settings(data_dir, f"127.0.0.1:{port}", window)
        async with (
            running_ottoscaler(settings, client) as running,
            aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
        ):
            await _execute(pb_grpc.OttoscalerServiceStub(channel), request)
            arrivals = await receiving
        rows[name] = arrivals.latency() if name == FORWARDED_LATENCY else arrivals.rate()
    return rows


async def _without_grpc(client: Client, data_dir: Path, lines: int) -> Rows:
    sinks = LogSinks(Archive(data_dir / "direct"), LiveHub())
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    config = {"mock.lines": str(lines), "mock.line_rate": "0"}
    spec = PipelineSpec(pipeline_id=queue, stages=(StageSpec(stage_id="print", config=config),))
    async with create_worker(client, queue, MockRuntime(), Admission(KEY, 50), logs=sinks):
        handle = await client.start_workflow(
            PipelineWorkflow.run,
            PipelineInput(spec=SIGNER.signed_pipeline(spec)),
            id=pipeline_workflow_id(spec.pipeline_id),
            task_queue=queue,
        )
        received, first = 0, 0.0
        selector = LogSelector(pipeline_id=spec.pipeline_id)
        async for batch in follow_logs(sinks, selector, 0, follow=True, poll_seconds=0.05):
            # From the first line's printing: a small run may arrive in one batch.
            first = first or batch.lines[0].timestamp.timestamp()
            received += len(batch.lines)
            if received >= lines:
                break
        seconds = time.time() - first
        await handle.result()
    return {
        "log path without gRPC": {
            "lines": received,
            "seconds": round(seconds, 3),
            "lines_per_s": round(received / seconds),
        }
    }


def _prebuilt(lines: int) -> grpc.GenericRpcHandler:
    """StreamWorkerLogs answering with prebuilt entries and doing nothing else."""
    entries = [
        pb.WorkerLogEntry(
            worker_id="bench-print-0-a1-abcdef",
            task_id="bench",
            timestamp="2025-09-01T12:34:56.789Z",
            source="stdout",
            message=f"line {n}",
            pod_metadata=pb.WorkerMetadata(pod_name="bench-print-0-a1-abcdef"),
            sequence=n,
        )
        for n in range(1, lines + 1)
    ]

    async def stream(
        request: pb.WorkerLogsRequest, context: Any
    ) -> AsyncIterator[pb.WorkerLogEntry]:
        for entry in entries:
            yield entry

    handler = grpc.unary_stream_rpc_method_handler(
        stream,
        request_deserializer=pb.WorkerLogsRequest.FromString,
        response_serializer=pb.WorkerLogEntry.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(
        "ottoscaler.v1.OttoscalerService", {"StreamWorkerLogs": handler}
    )


async def _bare_grpc(pool: ProcessPoolExecutor, lines: int) -> Rows:
    server = aio.server()
    server.add_generic_rpc_handlers((_prebuilt(lines),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        arrivals = await _client(pool, f"127.0.0.1:{port}", pb.WorkerLogsRequest(), False)
    finally:
        await server.stop(0)
    return {"bare gRPC stream": arrivals.rate(since_printed=False)}


async def measure(lines: int, seconds: float, forwarded_lines: int) -> Rows:
    rows: Rows = {}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool, tempfile.TemporaryDirectory() as tmp:
        await asyncio.get_running_loop().run_in_executor(pool, _ready)
        async with in_memory_temporal() as env:
            client = env.client
            steps: list[Callable[[], Coroutine[Any, Any, Rows]]] = [
                lambda: _through_gateway(client, pool, Path(tmp), lines, seconds),
                lambda: _forwarded(client, pool, Path(tmp), forwarded_lines, seconds),
                lambda: _without_grpc(client, Path(tmp), lines),
                lambda: _bare_grpc(pool, lines),
            ]
            for step in steps:
                rows.update(await step())
    return rows


def run(lines: int = 200_000, seconds: float = 10.0, forwarded_lines: int = 50_000) -> None:
    """Measures and reports (what `make bench` calls)."""
    report(
        "logs",
        asyncio.run(measure(lines, seconds, forwarded_lines)),
        {
            BATCHES: ">= 50,000 lines/s for one pipeline",
            LATENCY: "p99 <= 500 ms",
            FORWARDED_LATENCY: "every line at otto-handler within a second",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.logs", description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--forwarded-lines", type=int, default=50_000)
    args = parser.parse_args()
    run(args.lines, args.seconds, args.forwarded_lines)


if __name__ == "__main__":
    main()
