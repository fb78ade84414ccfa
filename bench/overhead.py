"""Overhead: Ottoscaler beside a bare Temporal workflow of the same shape.

    .venv/bin/python -m bench.overhead [--runs 8] [--warm-up 1]

One Temporal dev server; Ottoscaler (worker + gRPC gateway, mock runtime) and a bare
worker on its own task queue run in this process. Every worker "runs" for 0 s
(`mock.duration` 0), so only orchestration is measured. Shapes: 1 stage x 1 worker, a
chain of 5 stages x 1 worker, 1 stage x 20 workers, a diamond of 4 stages x 5 workers.
Per shape, --warm-up rounds then --runs rounds, each running the three variants in turn:

- ottoscaler: ExecutePipeline through the gateway over gRPC, from the call to the end of
  the stream (the pipeline-level COMPLETED event), as otto-handler sees it.
- bare flat: BarePipelineWorkflow below, started and awaited with the Temporal client. It
  starts each stage once its dependencies are done (parallel branches run together) and
  runs per worker three no-op activities in sequence: create, await, delete.
- bare children: the same with a BareStageWorkflow child per stage.

Both bare variants, because Ottoscaler runs a child workflow per stage (to keep every
history small): "bare flat" is the least Temporal needs for the shape, "bare children"
the same design choice without Ottoscaler's code. Their difference is what the children
cost; Ottoscaler minus "bare children" is what Ottoscaler adds: per worker a fourth
activity (the log tail, beside the await), per stage attempt a signal to the pipeline
(progress), search attribute upserts, validation, the gateway, and the progress stream
that polls a query every PROGRESS_POLL_SECONDS (0.1 s by default).

Rows, per shape and variant: end-to-end latency (ms); workflow_p50_ms, the server's start
to close of the workflow; events, the history events of the last run, workflow and
children summed (it varies a little: activity results that arrive together share a
workflow task). In a bare row, overhead_p*_ms is Ottoscaler's figure minus the row's and
ratio_p* Ottoscaler's divided by the row's.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The bare workflows live in this module, which the sandbox re-imports for every run;
# like workflows/pipeline/workflow.py, it passes everything else through.
with workflow.unsafe.imports_passed_through():
    from grpc import aio

    from bench.report import Figure, latency_summary, percentile, report
    from gateway.app import running_ottoscaler
    from gateway.settings import RuntimeKind, Settings
    from gateway.temporal.devserver import in_memory_temporal
    from gateway.temporal.replay import fetch_with_children
    from ottoscaler.v1 import ottoscaler_pb2 as pb
    from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
    from workflows.workers.naming import pipeline_workflow_id

Rows = dict[str, dict[str, Figure]]
OTTOSCALER = "ottoscaler"
BARE_FLAT = "bare flat"
BARE_CHILDREN = "bare children"
ACTIVITY_TIMEOUT = timedelta(seconds=60)


@dataclass(frozen=True)
class Stage:
    stage_id: str
    workers: int
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class BareInput:
    stages: tuple[Stage, ...]  # in DAG order: a stage after all it depends on
    children: bool


Stages = tuple[Stage, ...]
# Runs a pipeline of the shape to its end; returns its workflow id.
Run = Callable[[Stages], Awaitable[str]]

SHAPES: dict[str, Stages] = {
    "1x1": (Stage("a", 1),),
    "chain 5x1": tuple(Stage(f"s{i}", 1, (f"s{i - 1}",) if i else ()) for i in range(5)),
    "1x20": (Stage("a", 20),),
    "diamond 4x5": (
        Stage("a", 5),
        Stage("b", 5, ("a",)),
        Stage("c", 5, ("a",)),
        Stage("d", 5, ("b", "c")),
    ),
}


@activity.defn
async def noop_create(worker: str) -> None:
    """Stands for create_worker."""


@activity.defn
async def noop_await(worker: str) -> None:
    """Stands for await_worker."""


@activity.defn
async def noop_delete(worker: str) -> None:
    """Stands for delete_worker."""


async def _bare_worker(name: str) -> None:
    for step in (noop_create, noop_await, noop_delete):
        await workflow.execute_activity(step, name, start_to_close_timeout=ACTIVITY_TIMEOUT)


async def _bare_stage(stage: Stage) -> None:
    await asyncio.gather(*(_bare_worker(f"{stage.stage_id}-{n}") for n in range(stage.workers)))


@workflow.defn
class BareStageWorkflow:
    @workflow.run
    async def run(self, stage: Stage) -> None:
        await _bare_stage(stage)


@workflow.defn
class BarePipelineWorkflow:
    @workflow.run
    async def run(self, inp: BareInput) -> None:
        tasks: dict[str, asyncio.Task[None]] = {}
        for stage in inp.stages:
            after = [tasks[dep] for dep in stage.depends_on]
            tasks[stage.stage_id] = asyncio.create_task(self._stage(stage, after, inp.children))
        await asyncio.gather(*tasks.values())

    async def _stage(self, stage: Stage, after: list[asyncio.Task[None]], child: bool) -> None:
        await asyncio.gather(*after)
        if not child:
            await _bare_stage(stage)
            return
        await workflow.execute_child_workflow(
            BareStageWorkflow.run, stage, id=f"{workflow.info().workflow_id}/{stage.stage_id}"
        )


def _request(stages: Stages) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"overhead-{uuid.uuid4().hex[:8]}",
        stages=[
            pb.PipelineStage(
                stage_id=s.stage_id,
                worker_count=s.workers,
                depends_on=s.depends_on,
                config={"mock.duration": "0"},
            )
            for s in stages
        ],
    )


def _through_gateway(stub: pb_grpc.OttoscalerServiceAsyncStub) -> Run:
    async def run(stages: Stages) -> str:
        request = _request(stages)
        events = [event async for event in stub.ExecutePipeline(request)]
        assert events[-1].status == pb.STAGE_COMPLETED, events[-1].error_message
        return pipeline_workflow_id(request.pipeline_id)

    return run


def _bare(client: Client, task_queue: str, children: bool) -> Run:
    async def run(stages: Stages) -> str:
        workflow_id = f"bare-{uuid.uuid4().hex[:8]}"
        await client.execute_workflow(
            BarePipelineWorkflow.run,
            BareInput(stages, children),
            id=workflow_id,
            task_queue=task_queue,
        )
        return workflow_id

    return run


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)
    workflow_seconds: list[float] = field(default_factory=list)
    last_workflow_id: str = ""


async def _workflow_seconds(client: Client, workflow_id: str) -> float:
    """Start to close as the server recorded them, without the client's share."""
    handle = client.get_workflow_handle(workflow_id)
    await handle.result()  # close_time is certain only once the workflow has closed
    described = await handle.describe()
    assert described.close_time is not None
    return (described.close_time - described.start_time).total_seconds()


async def _sample(
    client: Client, variants: dict[str, Run], stages: Stages, runs: int, warm_up: int
) -> dict[str, Samples]:
    """Rounds of every variant in turn, so that a drift of the machine hits all alike."""
    samples = {name: Samples() for name in variants}
    for round_ in range(warm_up + runs):
        for name, run in variants.items():
            began = time.perf_counter()
            workflow_id = await run(stages)
            seconds = time.perf_counter() - began
            if round_ >= warm_up:
                samples[name].seconds.append(seconds)
                samples[name].workflow_seconds.append(await _workflow_seconds(client, workflow_id))
            samples[name].last_workflow_id = workflow_id
    return samples


async def _events(client: Client, workflow_id: str) -> int:
    return sum(len(h.events) for h in await fetch_with_children(client, workflow_id))


def _overhead(ottoscaler: list[float], bare: list[float]) -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for pct in (50, 99):
        otto, base = percentile(ottoscaler, pct), percentile(bare, pct)
        figures[f"overhead_p{pct}_ms"] = round((otto - base) * 1000, 1)
        figures[f"ratio_p{pct}"] = round(otto / base, 2)
    return figures


async def _rows(client: Client, shape: str, samples: dict[str, Samples]) -> Rows:
    rows: Rows = {}
    ottoscaler = samples[OTTOSCALER].seconds
    for name, sample in samples.items():
        row: dict[str, Figure] = {
            "runs": len(sample.seconds),
            **latency_summary(sample.seconds),
            "workflow_p50_ms": round(percentile(sample.workflow_seconds, 50) * 1000, 1),
            "events": await _events(client, sample.last_workflow_id),
        }
        if name != OTTOSCALER:
            row.update(_overhead(ottoscaler, sample.seconds))
        rows[f"{shape} · {name}"] = row
    return rows


def _settings(data_dir: Path) -> Settings:
    return Settings(
        grpc_port=0,
        metrics_port=0,
        temporal_task_queue=f"overhead-{uuid.uuid4().hex[:8]}",
        ottoscaler_runtime=RuntimeKind.MOCK,
        ottoscaler_data_dir=data_dir,
    )


def _bare_worker_for(client: Client, task_queue: str) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BarePipelineWorkflow, BareStageWorkflow],
        activities=[noop_create, noop_await, noop_delete],
    )


async def measure(runs: int, warm_up: int) -> Rows:
    with tempfile.TemporaryDirectory() as tmp:
        async with in_memory_temporal() as env:
            return await _measure_on(env.client, Path(tmp), runs, warm_up)


async def _measure_on(client: Client, data_dir: Path, runs: int, warm_up: int) -> Rows:
    rows: Rows = {}
    bare_queue = f"bare-{uuid.uuid4().hex[:8]}"
    async with (
        running_ottoscaler(_settings(data_dir), client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
        _bare_worker_for(client, bare_queue),
    ):
        variants = {
            OTTOSCALER: _through_gateway(pb_grpc.OttoscalerServiceStub(channel)),
            BARE_FLAT: _bare(client, bare_queue, children=False),
            BARE_CHILDREN: _bare(client, bare_queue, children=True),
        }
        for shape, stages in SHAPES.items():
            samples = await _sample(client, variants, stages, runs, warm_up)
            rows.update(await _rows(client, shape, samples))
    return rows


def run(runs: int = 8, warm_up: int = 1) -> None:
    """Measures and reports (what `make bench` calls)."""
    report("overhead", asyncio.run(measure(runs, warm_up)), {})


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="bench.overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # 8 rounds keep the whole benchmark under two minutes on a 2-core machine.
    parser.add_argument("--runs", type=int, default=8, help="timed rounds per shape")
    parser.add_argument("--warm-up", type=int, default=1, help="untimed rounds before them")
    args = parser.parse_args()
    run(args.runs, args.warm_up)


if __name__ == "__main__":
    main()
