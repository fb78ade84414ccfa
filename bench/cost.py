"""Cost: Temporal actions, history events and time of a pipeline, beside a bare workflow.

    .venv/bin/python -m bench.cost [--runs 5] [--concurrent 20] [--idle-seconds 30]

One Temporal dev server started with `--metrics-port`; its own `action` counter
(`action{namespace="default"}`, what Temporal Cloud bills) is read before and after
each measurement. Ottoscaler (worker and gRPC gateway, mock runtime, every worker
`mock.duration` 0) and a bare worker on its own task queue run in this process.

The shape is a 20-stage DAG in 5 layers of 1, 6, 8, 4 and 1 stages, each stage one
worker and depending on every stage of the layer before it. "bare" is a plain Temporal
workflow of the same shape: one no-op activity per stage, each started once all its
dependencies are done. "ottoscaler" is ExecutePipeline through the gateway, with its
stream open from the call to the pipeline's final event, as otto-handler runs it.

Rows:
- one pipeline (--runs sequential runs): actions and history events per pipeline (all
  its workflows), wall time p50 (the caller's, from the call to the end), workflow time
  p50 (the server's, from start to close), and progress latency: for every stream event, its
  arrival minus the workflow time of the change it reports (p50, p99).
- --concurrent pipelines at once: wall time to the last end, actions per pipeline.
- idle stream: a 1-worker stage that runs --idle-seconds with its ExecutePipeline stream
  and five WatchPipeline streams open; actions per minute in the middle of its run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from grpc import aio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareDagWorkflow, BareStage, bare_stage, layered_stages
from bench.ports import free_port
from bench.report import Figure, percentile, report
from gateway.app import running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from gateway.temporal.devserver import in_memory_temporal
from gateway.temporal.replay import fetch_with_children
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.workers.naming import pipeline_workflow_id

NAMESPACE = "default"
Rows = dict[str, dict[str, Figure]]


class ActionCounter:
    """The dev server's own count of billable actions in the namespace."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"

    def _read(self) -> int:
        with urllib.request.urlopen(self.url, timeout=10) as answer:
            text = answer.read().decode()
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                if family.name == "action"
                for sample in family.samples
                if sample.labels.get("namespace") == NAMESPACE
            )
        )

    async def now(self) -> int:
        """The count as last published (for a rate: the publishing lag cancels out)."""
        return await asyncio.to_thread(self._read)

    async def read(self) -> int:
        """The count once the server has published it: its metrics reporter flushes about
        once a second, so a value is taken when three reads half a second apart agree."""
        last, same = await asyncio.to_thread(self._read), 0
        for _ in range(40):
            await asyncio.sleep(0.5)  # the reporter's flush interval, not a synchronisation
            value = await asyncio.to_thread(self._read)
            same = same + 1 if value == last else 0
            if same == 2:
                break
            last = value
        return last


def pipeline_request(stages: Sequence[BareStage], duration: int = 0) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"cost-{uuid.uuid4().hex[:10]}",
        stages=[
            pb.PipelineStage(
                stage_id=s.stage_id,
                depends_on=s.depends_on,
                config={"mock.duration": str(duration)},
            )
            for s in stages
        ],
    )


@dataclass
class Run:
    seconds: float
    latencies: list[float]
    workflow_id: str


def _event_time(event: pb.PipelineProgress) -> datetime:
    return datetime.fromisoformat(event.timestamp.replace("Z", "+00:00"))


async def run_pipeline(
    stub: pb_grpc.OttoscalerServiceAsyncStub, request: pb.PipelineRequest
) -> Run:
    began = time.perf_counter()
    latencies: list[float] = []
    last = None
    async for event in stub.ExecutePipeline(request):
        latencies.append((datetime.now(UTC) - _event_time(event)).total_seconds())
        last = event
    assert last is not None and last.status == pb.STAGE_COMPLETED, last
    return Run(time.perf_counter() - began, latencies, pipeline_workflow_id(request.pipeline_id))


async def run_bare(client: Client, task_queue: str, stages: list[BareStage]) -> Run:
    began = time.perf_counter()
    workflow_id = f"bare-{uuid.uuid4().hex[:10]}"
    await client.execute_workflow(
        BareDagWorkflow.run, stages, id=workflow_id, task_queue=task_queue
    )
    return Run(time.perf_counter() - began, [], workflow_id)


async def events(client: Client, workflow_id: str) -> int:
    return sum(len(h.events) for h in await fetch_with_children(client, workflow_id))


async def settled(client: Client, workflow_id: str) -> float:
    """Waits for the workflow to close, so that every action it takes is counted; its
    start to close as the server recorded them, in seconds."""
    handle = client.get_workflow_handle(workflow_id)
    await handle.result()
    described = await handle.describe()
    assert described.close_time is not None
    return (described.close_time - described.start_time).total_seconds()


class Bench:
    def __init__(
        self,
        client: Client,
        counter: ActionCounter,
        stub: pb_grpc.OttoscalerServiceAsyncStub,
        bare_queue: str,
    ):
        self.client = client
        self.counter = counter
        self.stub = stub
        self.bare_queue = bare_queue
        self.stages = layered_stages()

    async def one(self, name: str, runs: int) -> dict[str, Figure]:
        actions: list[int] = []
        seconds: list[float] = []
        workflow_seconds: list[float] = []
        latencies: list[float] = []
        workflow_id = ""
        for _ in range(runs):
            before = await self.counter.read()
            run = await self._run(name)
            workflow_seconds.append(await settled(self.client, run.workflow_id))
            actions.append(await self.counter.read() - before)
            seconds.append(run.seconds)
            latencies += run.latencies
            workflow_id = run.workflow_id
        row: dict[str, Figure] = {
            "actions": round(percentile(actions, 50)),
            "events": await events(self.client, workflow_id),
            "wall_p50_ms": round(percentile(seconds, 50) * 1000, 1),
            "workflow_p50_ms": round(percentile(workflow_seconds, 50) * 1000, 1),
        }
        if latencies:
            row["progress_p50_ms"] = round(percentile(latencies, 50) * 1000, 1)
            row["progress_p99_ms"] = round(percentile(latencies, 99) * 1000, 1)
        return row

    async def concurrent(self, name: str, count: int) -> dict[str, Figure]:
        before = await self.counter.read()
        began = time.perf_counter()
        runs = await asyncio.gather(*(self._run(name) for _ in range(count)))
        seconds = time.perf_counter() - began
        await asyncio.gather(*(settled(self.client, r.workflow_id) for r in runs))
        spent = await self.counter.read() - before
        return {
            "pipelines": count,
            "wall_ms": round(seconds * 1000, 1),
            "actions_each": spent // count,
        }

    async def idle_stream(self, seconds: int) -> dict[str, Figure]:
        """Actions a minute while one 1-worker stage runs, its streams open and read."""
        request = pipeline_request([BareStage("work", ())], duration=seconds)
        running = asyncio.Event()

        async def execute() -> None:
            async for event in self.stub.ExecutePipeline(request):
                if event.stage_id == "work" and event.worker_pod_names:
                    running.set()  # the worker runs from here

        streams = [asyncio.create_task(execute())]
        await running.wait()
        ref = pb.PipelineRef(pipeline_id=request.pipeline_id)
        streams += [asyncio.create_task(self._drain(ref)) for _ in range(5)]
        window = seconds / 2
        await asyncio.sleep(seconds / 4)  # let the watchers attach
        before = await self.counter.now()
        await asyncio.sleep(window)  # the measuring window itself: nothing to wait on
        spent = await self.counter.now() - before
        await asyncio.gather(*streams)
        return {
            "streams": len(streams),
            "window_s": window,
            "actions_per_minute": round(spent * 60 / window, 1),
        }

    async def _drain(self, ref: pb.PipelineRef) -> None:
        async for _ in self.stub.WatchPipeline(ref):
            pass

    async def _run(self, name: str) -> Run:
        if name == "bare":
            return await run_bare(self.client, self.bare_queue, self.stages)
        return await run_pipeline(self.stub, pipeline_request(self.stages))


def ratios(rows: Rows, first: str, second: str, keys: Sequence[str]) -> dict[str, Figure]:
    return {
        f"{key}_ratio": round(float(rows[first][key]) / float(rows[second][key]), 2) for key in keys
    }


@asynccontextmanager
async def environment(data_dir: Path) -> AsyncIterator[Bench]:
    metrics_port = free_port()
    async with in_memory_temporal(metrics_port) as env:
        settings = Settings(
            grpc_port=0,
            metrics_port=0,
            temporal_task_queue=f"cost-{uuid.uuid4().hex[:8]}",
            ottoscaler_runtime=RuntimeKind.MOCK,
            ottoscaler_data_dir=data_dir,
        )
        bare_queue = f"bare-{uuid.uuid4().hex[:8]}"
        async with (
            running_ottoscaler(settings, env.client) as running,
            aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
            Worker(
                env.client,
                task_queue=bare_queue,
                workflows=[BareDagWorkflow],
                activities=[bare_stage],
            ),
        ):
            yield Bench(
                env.client,
                ActionCounter(metrics_port),
                pb_grpc.OttoscalerServiceStub(channel),
                bare_queue,
            )


async def measure(runs: int, concurrent: int, idle_seconds: int) -> Rows:
    with TemporaryDirectory() as tmp:
        async with environment(Path(tmp)) as bench:
            await bench.one("ottoscaler", 1)  # warm-up: imports, sandbox, first queries
            await bench.one("bare", 1)
            rows: Rows = {
                "one pipeline · ottoscaler": await bench.one("ottoscaler", runs),
                "one pipeline · bare": await bench.one("bare", runs),
            }
            rows["one pipeline · ratio"] = ratios(
                rows,
                "one pipeline · ottoscaler",
                "one pipeline · bare",
                ("actions", "events", "wall_p50_ms"),
            )
            rows[f"{concurrent} concurrent · ottoscaler"] = await bench.concurrent(
                "ottoscaler", concurrent
            )
            rows[f"{concurrent} concurrent · bare"] = await bench.concurrent("bare", concurrent)
            rows[f"{concurrent} concurrent · ratio"] = ratios(
                rows,
                f"{concurrent} concurrent · ottoscaler",
                f"{concurrent} concurrent · bare",
                ("wall_ms", "actions_each"),
            )
            rows["idle stream · ottoscaler"] = await bench.idle_stream(idle_seconds)
            return rows


TARGETS = {
    "actions, one pipeline with its stream": "at most 2x bare (goal 1.5x)",
    "events per worker attempt": "at most 2x bare's per activity",
    "wall time, one and 20 concurrent": "at most 2x bare",
    "idle stream": "at most 6 actions a minute, not growing with streams or time",
    "progress latency": "p99 at most 250 ms",
}


def run(runs: int = 5, concurrent: int = 20, idle_seconds: int = 30) -> None:
    """Measures and reports (what `make bench` calls)."""
    report("cost", asyncio.run(measure(runs, concurrent, idle_seconds)), TARGETS)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5, help="sequential runs of each side")
    parser.add_argument("--concurrent", type=int, default=20, help="pipelines at once")
    parser.add_argument("--idle-seconds", type=int, default=30, help="how long the idle stage runs")
    args = parser.parse_args()
    run(args.runs, args.concurrent, args.idle_seconds)


if __name__ == "__main__":
    main()
