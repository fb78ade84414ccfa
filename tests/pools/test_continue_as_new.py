"""A long-lived pool continues as new: workers, answers and names carry over."""

from __future__ import annotations

from temporalio.client import Client

from activities.runtimes.mock.runtime import MockRuntime
from gateway.pools.client import PoolClient
from gateway.worker import create_worker
from tests.pools.calls import new_task
from tests.signing import SIGNER, admission
from tests.waiting import eventually
from workflows.pool.models import PoolSettings, PoolTotals, ScaleStatus, ScaleUpRequest
from workflows.pool.specs import pool_workflow_id
from workflows.pool.workflow import WorkerPoolWorkflow


def request(task_id: str, count: int, request_id: str) -> ScaleUpRequest:
    return SIGNER.signed_scale_up(
        ScaleUpRequest(
            task_id=task_id,
            worker_count=count,
            request_id=request_id,
            build_config={"mock.duration": "600"},
        )
    )


async def test_the_pool_continues_as_new_and_keeps_workers_answers_and_names(
    client: Client, task_queue: str
) -> None:
    runtime = MockRuntime()
    pools = PoolClient(client, task_queue, PoolSettings(history_limit=40))
    task = new_task()
    handle = client.get_workflow_handle_for(WorkerPoolWorkflow.run, pool_workflow_id(task))
    async with create_worker(client, task_queue, runtime, admission()):
        first = await pools.scale_up(request(task, 3, "r1"))
        first_run = (await handle.describe()).run_id
        names = set(first.worker_names)
        for number in range(2, 5):
            names |= set((await pools.scale_up(request(task, 2, f"r{number}"))).worker_names)

        async def continued() -> bool:
            return (await handle.describe()).run_id != first_run

        await eventually(continued)
        again = await pools.scale_up(request(task, 3, "r1"))
        assert again.status is ScaleStatus.ALREADY_PROCESSED
        assert again.worker_names == first.worker_names
        later = await pools.scale_up(request(task, 1, "r5"))
        assert later.status is ScaleStatus.SUCCESS and not names & set(later.worker_names)
        names |= set(later.worker_names)
        assert {w.name for w in await runtime.list({"task-id": task})} == names
        ended = await pools.scale_down(task, 0)
        assert ended is not None and set(ended.worker_names) == names
        assert await handle.result() == PoolTotals(created=len(names), terminated=len(names))
    assert await runtime.list({"task-id": task}) == []
