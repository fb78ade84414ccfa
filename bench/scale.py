"""How large a pipeline Ottoscaler runs, and how big its Temporal histories get.

A 1,000-stage pipeline (100 levels of 10 stages, each depending on one stage of the
level before) and one stage of 100 shards, on the mock runtime and a local dev server.
Temporal's limits: 51,200 events per history, 2,000 pending activities or children.

    .venv/bin/python -m bench.scale
"""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.runtimes.mock.runtime import MockRuntime
from bench.report import report
from gateway.temporal.devserver import in_memory_temporal
from gateway.temporal.replay import child_executions
from gateway.worker import create_worker
from workflows.base.checks import Limits
from workflows.pipeline.inputs import PipelineInput
from workflows.pipeline.models import PipelineSnapshot, PipelineSpec, StageSpec, StageStatus
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id

HISTORY_LIMIT = 51_200


def layered(levels: int, width: int) -> PipelineSpec:
    stages = [
        StageSpec(
            stage_id=f"s{level}-{i}",
            depends_on=(f"s{level - 1}-{i}",) if level else (),
        )
        for level in range(levels)
        for i in range(width)
    ]
    return PipelineSpec(pipeline_id=f"scale-{uuid.uuid4().hex[:8]}", stages=tuple(stages))


def one_wide_stage(shards: int) -> PipelineSpec:
    stage = StageSpec(stage_id="wide", worker_count=shards)
    return PipelineSpec(pipeline_id=f"wide-{uuid.uuid4().hex[:8]}", stages=(stage,))


async def measure(client: Client, task_queue: str, spec: PipelineSpec) -> dict[str, float | int]:
    limits = Limits(max_stages=1000, max_workers_per_stage=100)
    began = time.perf_counter()
    handle: WorkflowHandle[PipelineWorkflow, PipelineSnapshot] = await client.start_workflow(
        PipelineWorkflow.run,
        PipelineInput(spec=spec, limits=limits),
        id=pipeline_workflow_id(spec.pipeline_id),
        task_queue=task_queue,
    )
    snapshot = await handle.result()
    seconds = time.perf_counter() - began
    assert snapshot.status is StageStatus.COMPLETED, snapshot.error_message
    parent = await handle.fetch_history()
    largest_child = 0
    for child_id, run_id in child_executions(parent):
        child = await client.get_workflow_handle(child_id, run_id=run_id).fetch_history()
        largest_child = max(largest_child, len(child.events))
    shards = sum(s.worker_count for s in spec.stages)
    return {
        "stages": len(spec.stages),
        "shards": shards,
        "seconds": round(seconds, 2),
        "parent_events": len(parent.events),
        "largest_stage_events": largest_child,
        "parent_events_per_stage": round(len(parent.events) / len(spec.stages), 1),
        "pct_of_history_limit": round(100 * len(parent.events) / HISTORY_LIMIT, 1),
    }


async def main() -> None:
    async with in_memory_temporal() as env:
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        worker: Worker = create_worker(env.client, task_queue, MockRuntime())
        async with worker:
            rows = {
                "1000 stages (100 x 10)": await measure(env.client, task_queue, layered(100, 10)),
                "1 stage x 100 shards": await measure(env.client, task_queue, one_wide_stage(100)),
            }
    report(
        "scale",
        rows,
        {"history": f"every history far below {HISTORY_LIMIT} events"},
    )


def run() -> None:
    asyncio.run(main())


if __name__ == "__main__":
    run()
