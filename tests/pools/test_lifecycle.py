"""A pool's life: finished workers stay for the TTL, then go, and the empty pool ends."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, pool_closed, scale_up, status
from tests.waiting import eventually
from workflows.pool.models import PoolTotals
from workflows.pool.specs import pool_workflow_id
from workflows.pool.workflow import WorkerPoolWorkflow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_ttl_seconds": 1.0})


async def test_finished_workers_stay_for_the_ttl_then_the_pool_ends(
    stub: Stub, client: Client
) -> None:
    task = new_task()
    await scale_up(stub, task, 2, mock_duration="0.2")
    await scale_up(stub, task, 1, mock_duration="0.2", mock_exit_code="4")

    async def all_finished() -> pb.WorkerStatusResponse | None:
        seen = await status(stub, task)
        return seen if seen.succeeded_count + seen.failed_count == 3 else None

    finished = await eventually(all_finished)
    assert finished is not None
    assert (finished.succeeded_count, finished.failed_count) == (2, 1)

    async def all_gone() -> bool:
        return (await status(stub, task)).total_count == 0

    await eventually(all_gone)
    assert await pool_closed(client, task) is WorkflowExecutionStatus.COMPLETED
    handle = client.get_workflow_handle_for(WorkerPoolWorkflow.run, pool_workflow_id(task))
    assert await handle.result() == PoolTotals(created=3, succeeded=2, failed=1)
