"""A pool's agents push their logs (LogStreamingService); StreamWorkerLogs by the pool's
task_id follows them until the pool has ended."""

from __future__ import annotations

import asyncio

import pytest

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.agent_calls import registration
from tests.logs.pipelines import collect
from tests.pools.calls import new_task, scale_up


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_ttl_seconds": 0.2})


async def test_a_pools_logs_are_followed_until_the_pool_ends(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    agents: pb_grpc.LogStreamingServiceAsyncStub,
    settings: Settings,
) -> None:
    task = new_task()
    # Long enough for the agent to push its lines while its worker runs: after, it could not.
    (pod,) = (await scale_up(stub, task, 1, mock_duration="5")).worker_pod_names
    # Before any agent pushed a line, the pool alone makes the task known: no NOT_FOUND.
    assert await collect(stub.StreamWorkerLogs(pb.WorkerLogsRequest(task_id=task))) == []
    follow = pb.WorkerLogsRequest(task_id=task, follow=True)
    followed = asyncio.create_task(collect(stub.StreamWorkerLogs(follow)))
    registered = await agents.RegisterWorker(registration(settings, pod, task))
    sent = [
        pb.LogEntry(worker_id=pod, session_id=registered.session_id, message=f"step {n}")
        for n in range(1, 4)
    ]
    await collect(agents.StreamLogs(iter(sent)))
    # Ends by itself once the worker has finished, outlived its TTL and the pool closed.
    lines = await asyncio.wait_for(followed, 60)
    assert [(e.worker_id, e.sequence, e.message) for e in lines] == [
        (pod, n, f"step {n}") for n in range(1, 4)
    ]
