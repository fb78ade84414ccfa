"""Small builders for pipeline specs and running them on a real worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import WorkerRuntime
from gateway.pipelines.stream import final_page
from gateway.worker import create_worker
from tests.signing import SIGNER, admission
from workflows.base.checks import Limits
from workflows.pipeline.inputs import PipelineInput
from workflows.pipeline.models import (
    PipelineSnapshot,
    PipelineSpec,
    ProgressEvent,
    ProgressPage,
    RetrySpec,
    StageSpec,
)
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id


def mock_stage(
    stage_id: str,
    *depends_on: str,
    workers: int = 1,
    duration: float = 0.0,
    exit_code: int = 0,
    fail_attempts: int = 0,
    reason: str = "",
    max_attempts: int = 1,
    retry_delay: int = 0,
    retryable: Sequence[str] = (),
    timeout: int = 0,
) -> StageSpec:
    config = {
        "mock.duration": str(duration),
        "mock.exit_code": str(exit_code),
        "mock.fail_attempts": str(fail_attempts),
    }
    if reason:
        config["mock.reason"] = reason
    return StageSpec(
        stage_id=stage_id,
        type="test",
        worker_count=workers,
        depends_on=depends_on,
        config=config,
        timeout_seconds=timeout,
        retry=RetrySpec(
            max_attempts=max_attempts,
            retry_delay_seconds=retry_delay,
            retryable_failures=tuple(retryable),
        ),
    )


def pipeline(*stages: StageSpec, pipeline_id: str = "") -> PipelineSpec:
    return PipelineSpec(
        pipeline_id=pipeline_id or f"p-{uuid.uuid4().hex[:10]}",
        stages=stages,
        repository="otto/demo",
        commit_sha="abc123",
    )


@asynccontextmanager
async def worker(
    client: Client,
    task_queue: str,
    runtime: WorkerRuntime | None = None,
    max_workers_per_task: int = 50,
) -> AsyncIterator[Worker]:
    admitting = admission(max_workers_per_task)
    async with create_worker(client, task_queue, runtime or MockRuntime(), admitting) as running:
        yield running


async def start(
    client: Client, task_queue: str, spec: PipelineSpec, limits: Limits | None = None
) -> WorkflowHandle[PipelineWorkflow, ProgressPage]:
    return await client.start_workflow(
        PipelineWorkflow.run,
        PipelineInput(spec=SIGNER.signed_pipeline(spec), limits=limits or Limits()),
        id=pipeline_workflow_id(spec.pipeline_id),
        task_queue=task_queue,
    )


async def run_pipeline(
    client: Client, task_queue: str, spec: PipelineSpec
) -> tuple[PipelineSnapshot, list[ProgressEvent]]:
    """Runs the pipeline to its end; returns the final snapshot and every transition."""
    handle = await start(client, task_queue, spec)
    result = await final_page(handle)
    assert result is not None, "the run ended without a result: cancelled, or a bug"
    page = await handle.query(PipelineWorkflow.progress, 0)
    return result.snapshot, list(page.events)


def version_of(events: Sequence[ProgressEvent], stage_id: str, status: str) -> int:
    """The version of the first event where stage_id reached status."""
    return next(e.version for e in events if e.stage_id == stage_id and e.status == status)
