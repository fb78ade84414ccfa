"""Worker pools started or scaled around the gateway (issue 12, item 5): a Temporal client
on the frontend, no token. Mock runtime, MAX_WORKERS_PER_TASK=10."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.admission import SpecSigner
from gateway.app import Running
from gateway.settings import Settings
from tests.pools.calls import Stub, new_task, scale_down
from workflows.pool.models import PoolInput, PoolSettings, ScaleResult, ScaleStatus, ScaleUpRequest
from workflows.pool.specs import pool_workflow_id
from workflows.pool.workflow import WorkerPoolWorkflow


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"ottoscaler_data_dir": tmp_path})


async def scale_up_directly(
    client: Client, settings: Settings, request: ScaleUpRequest, max_workers_per_task: int
) -> ScaleResult:
    """The first ScaleUp starts the pool, with limits of the caller's choosing."""
    start = WithStartWorkflowOperation(
        WorkerPoolWorkflow.run,
        PoolInput(
            task_id=request.task_id,
            settings=PoolSettings(max_workers_per_task=max_workers_per_task),
        ),
        id=pool_workflow_id(request.task_id),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    result: ScaleResult = await client.execute_update_with_start_workflow(
        WorkerPoolWorkflow.scale_up, request, start_workflow_operation=start
    )
    return result


def agents(task_id: str, count: int, request_id: str) -> ScaleUpRequest:
    return ScaleUpRequest(
        task_id=task_id,
        worker_count=count,
        request_id=request_id,
        image="busybox:latest",
        build_config={"mock.duration": "600"},
    )


async def test_an_unsigned_scale_up_creates_nothing_and_says_why(
    client: Client, settings: Settings, stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    result = await scale_up_directly(client, settings, agents(task, 3, "r1"), 10)

    assert result.status is ScaleStatus.FAILED
    assert "spec not signed by this Ottoscaler's gateway" in result.message
    assert await ottoscaler.runtime.list({"task-id": task}) == []
    await scale_down(stub, task, 0)


async def test_a_pool_started_with_a_higher_limit_stays_within_the_workers_own(
    client: Client, settings: Settings, stub: Stub, ottoscaler: Running
) -> None:
    """ScaleUps signed with this Ottoscaler's key (each within its limit) sent to a pool
    started with MAX_WORKERS_PER_TASK 100 in its input: the workers hold to their own 10."""
    signer = SpecSigner(settings.signing_key)
    task = new_task()
    first = await scale_up_directly(
        client, settings, signer.signed_scale_up(agents(task, 8, "r1")), 100
    )
    second = await scale_up_directly(
        client, settings, signer.signed_scale_up(agents(task, 8, "r2")), 100
    )

    assert first.status is ScaleStatus.SUCCESS and len(first.worker_names) == 8
    assert second.status is ScaleStatus.PARTIAL_SUCCESS and len(second.worker_names) == 2
    assert "this worker's MAX_WORKERS_PER_TASK=10 reached" in second.message
    assert len(await ottoscaler.runtime.list({"task-id": task})) == 10
    await scale_down(stub, task, 0)
