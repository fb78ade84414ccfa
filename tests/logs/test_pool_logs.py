"""The workers of a pool (ScaleUp) are tailed like a stage's: their logs by task_id."""

from __future__ import annotations

import pytest

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import by_pod, collect, printed
from tests.pools.calls import new_task, scale_up


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_ttl_seconds": 0.5})


async def test_a_pools_workers_logs_are_archived_and_followed_until_the_pool_ends(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    task = new_task()
    await scale_up(stub, task, 2, mock_lines="200", mock_line_rate="400")
    follow = pb.WorkerLogsRequest(task_id=task, follow=True)
    # Ends once the pool has deleted its finished workers and closed.
    pods = by_pod(await collect(stub.StreamWorkerLogs(follow)))
    assert len(pods) == 2
    assert all(lines == printed(200) for lines in pods.values())
    # The pods are gone; their logs are not.
    replayed = await collect(stub.StreamWorkerLogs(pb.WorkerLogsRequest(task_id=task)))
    assert by_pod(replayed) == pods
