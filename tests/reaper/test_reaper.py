"""Reaper sweeps on a real Temporal dev server, with the mock and the kubernetes runtime."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    WorkflowFailureError,
    WorkflowHandle,
)

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import WorkerRuntime
from gateway.reaper.schedule import ensure_reaper, reaper_schedule_id
from tests.builders import pipeline, start, worker
from tests.waiting import eventually
from workflows.pipeline.models import ProgressPage, StageSpec
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.reaper.workflow import ReaperWorkflow, ReapInput, ReapResult
from workflows.workers.spec import MANAGED_BY, Labels, WorkerInfo, WorkerSpec

# Runs for a minute on either runtime: long past every sweep of a test.
LONG = StageSpec(stage_id="build", config={"mock.duration": "60", "FAKE_DURATION": "60"})


async def sweep(client: Client, task_queue: str, grace_seconds: float) -> ReapResult:
    return await client.execute_workflow(
        ReaperWorkflow.run,
        ReapInput(grace_seconds=grace_seconds),
        id=f"reap-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
    )


async def running_worker(
    client: Client, task_queue: str, runtime: WorkerRuntime
) -> tuple[WorkflowHandle[PipelineWorkflow, ProgressPage], WorkerInfo]:
    """A pipeline whose one stage runs, and its worker once it exists."""
    spec = pipeline(LONG)
    handle = await start(client, task_queue, spec)

    async def its_worker() -> list[WorkerInfo]:
        return await runtime.list({Labels.PIPELINE_ID: spec.pipeline_id})

    [info] = await eventually(its_worker)
    return handle, info


async def nothing_left(runtime: WorkerRuntime) -> bool:
    return not await runtime.list({Labels.MANAGED_BY: MANAGED_BY})


async def leftover_of_a_closed_pipeline(
    client: Client, task_queue: str, runtime: WorkerRuntime
) -> WorkerInfo:
    """A worker whose pipeline run has ended without deleting it (as after a failed delete)."""
    closed = await start(client, task_queue, pipeline())  # no stages: refused, so it ends
    with pytest.raises(WorkflowFailureError):
        await closed.result()
    pipeline_id = closed.id.removeprefix("pipeline-")
    labels = {Labels.MANAGED_BY: MANAGED_BY, Labels.PIPELINE_ID: pipeline_id}
    spec = WorkerSpec(
        name=f"left-{pipeline_id}",
        labels={**labels, Labels.RUN_ID: closed.result_run_id or ""},
        env={"FAKE_DURATION": "60"},
    )
    return await runtime.create(spec)


async def sweeps_delete_orphans_only(
    client: Client, task_queue: str, runtime: WorkerRuntime
) -> None:
    async with worker(client, task_queue, runtime):
        orphan = await leftover_of_a_closed_pipeline(client, task_queue, runtime)
        running, kept = await running_worker(client, task_queue, runtime)
        older_run = WorkerSpec(
            name=f"older-{uuid.uuid4().hex[:8]}",
            labels={**kept.labels, Labels.RUN_ID: "an-older-run"},
            env={"FAKE_DURATION": "60"},
        )
        await runtime.create(older_run)
        try:
            young = await sweep(client, task_queue, grace_seconds=3600)
            old = await sweep(client, task_queue, grace_seconds=0)
            left = await runtime.list({Labels.MANAGED_BY: MANAGED_BY})
        finally:
            await running.cancel()
            with pytest.raises(WorkflowFailureError):
                await running.result()

    assert young.deleted == ()
    assert sorted(old.deleted) == sorted([orphan.name, older_run.name])
    assert old.workers == 3
    assert [w.name for w in left] == [kept.name]


async def test_a_sweep_deletes_orphans_and_keeps_running_and_young_workers(
    client: Client, task_queue: str
) -> None:
    await sweeps_delete_orphans_only(client, task_queue, MockRuntime())


async def test_a_sweep_deletes_orphaned_pods(
    client: Client, task_queue: str, kube_runtime: KubernetesRuntime
) -> None:
    await sweeps_delete_orphans_only(client, task_queue, kube_runtime)


async def test_the_schedule_sweeps_with_the_workers_of_its_task_queue(
    client: Client, task_queue: str
) -> None:
    runtime = MockRuntime()
    stray = WorkerSpec(
        name="stray", labels={Labels.MANAGED_BY: MANAGED_BY, Labels.PIPELINE_ID: "never-started"}
    )
    await runtime.create(stray)
    await ensure_reaper(client, task_queue, interval_seconds=3600, grace_seconds=0)
    schedule = client.get_schedule_handle(reaper_schedule_id(task_queue))
    try:
        async with worker(client, task_queue, runtime):
            await schedule.trigger()
            await eventually(lambda: nothing_left(runtime))
    finally:
        await schedule.delete()


async def test_a_second_process_updates_the_one_schedule_and_keeps_its_pause(
    client: Client, task_queue: str
) -> None:
    await ensure_reaper(client, task_queue, interval_seconds=300, grace_seconds=600)
    schedule = client.get_schedule_handle(reaper_schedule_id(task_queue))
    try:
        await schedule.pause(note="maintenance")

        await ensure_reaper(client, task_queue, interval_seconds=60, grace_seconds=900)

        described = (await schedule.describe()).schedule
        action = described.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        [inp] = await client.data_converter.decode(action.args, [ReapInput])
        assert inp == ReapInput(grace_seconds=900)
        assert [i.every.total_seconds() for i in described.spec.intervals] == [60]
        assert described.state.paused
    finally:
        await schedule.delete()
