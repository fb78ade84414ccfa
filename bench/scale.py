"""How large a pipeline Ottoscaler runs, and how big its Temporal histories get.

On the mock runtime and a local dev server: a 1,000-stage pipeline (100 levels of 10
stages, each depending on one stage of the level before), one stage of 100 shards, and
20 stages of 50 shards that allow 10 attempts each (their worst case passes one
history's budget, so most run in StageWorkflow children: workflows/pipeline/placement.py).
Temporal warns past 10,240 events or 10 MB in one history (and stops at 51,200).

    .venv/bin/python -m bench.scale
"""

from __future__ import annotations

import asyncio
import time
import uuid

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.worker import Worker

from activities.admission import Admission, SpecSigner
from activities.runtimes.mock.runtime import MockRuntime
from bench.report import report
from gateway.temporal.devserver import in_memory_temporal
from gateway.temporal.replay import child_executions
from gateway.worker import create_worker
from workflows.base.checks import Limits
from workflows.pipeline.inputs import PipelineInput
from workflows.pipeline.models import (
    PipelineSpec,
    ProgressPage,
    RetrySpec,
    StageSpec,
    StageStatus,
)
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id

WARN_EVENTS = 10_240
# The benchmark plays the gateway too: it signs what its worker runs.
KEY = b"bench"
SIGNER = SpecSigner(KEY)
WARN_BYTES = 10 * 1024 * 1024


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


def wide_retried_stages(stages: int, shards: int, attempts: int) -> PipelineSpec:
    retry = RetrySpec(max_attempts=attempts)
    return PipelineSpec(
        pipeline_id=f"big-{uuid.uuid4().hex[:8]}",
        stages=tuple(
            StageSpec(stage_id=f"s{n}", worker_count=shards, retry=retry) for n in range(stages)
        ),
    )


def history_bytes(history: WorkflowHistory) -> int:
    return sum(event.ByteSize() for event in history.events)


async def measure(client: Client, task_queue: str, spec: PipelineSpec) -> dict[str, float | int]:
    limits = Limits(max_stages=1000, max_workers_per_stage=100)
    began = time.perf_counter()
    handle: WorkflowHandle[PipelineWorkflow, ProgressPage] = await client.start_workflow(
        PipelineWorkflow.run,
        PipelineInput(spec=SIGNER.signed_pipeline(spec), limits=limits),
        id=pipeline_workflow_id(spec.pipeline_id),
        task_queue=task_queue,
    )
    snapshot = (await handle.result()).snapshot
    seconds = time.perf_counter() - began
    assert snapshot.status is StageStatus.COMPLETED, snapshot.error_message
    parent = await handle.fetch_history()
    children = [
        await client.get_workflow_handle(child_id, run_id=run_id).fetch_history()
        for child_id, run_id in child_executions(parent)
    ]
    largest = max([parent, *children], key=lambda h: len(h.events))
    return {
        "stages": len(spec.stages),
        "shards": sum(s.worker_count for s in spec.stages),
        "seconds": round(seconds, 2),
        "pipeline_events": len(parent.events),
        "child_stages": len(children),
        "largest_history_events": len(largest.events),
        "largest_history_kib": round(max(history_bytes(h) for h in [parent, *children]) / 1024),
        "pct_of_warning": round(100 * len(largest.events) / WARN_EVENTS, 1),
    }


async def main() -> None:
    async with in_memory_temporal() as env:
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        worker: Worker = create_worker(
            env.client, task_queue, MockRuntime(), Admission(KEY, max_workers_per_task=100)
        )
        async with worker:
            rows = {
                "1000 stages (100 x 10)": await measure(env.client, task_queue, layered(100, 10)),
                "1 stage x 100 shards": await measure(env.client, task_queue, one_wide_stage(100)),
                "20 stages x 50 shards, 10 attempts allowed": await measure(
                    env.client, task_queue, wide_retried_stages(20, 50, 10)
                ),
            }
    report(
        "scale",
        rows,
        {"history": f"every history below {WARN_EVENTS} events and {WARN_BYTES} bytes"},
    )


def run() -> None:
    asyncio.run(main())


if __name__ == "__main__":
    run()
