"""Short ways to call the pool RPCs and to look at a pool from a test."""

from __future__ import annotations

import uuid
from typing import TypeAlias

from temporalio.client import Client, WorkflowExecutionStatus

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.waiting import eventually
from workflows.pool.specs import pool_workflow_id

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"


def new_task() -> str:
    return f"task-{uuid.uuid4().hex[:10]}"


def scale_request(
    task_id: str, workers: int, request_id: str = "", **config: str
) -> pb.ScaleRequest:
    """config: build_config; keyword mock_duration becomes key mock.duration."""
    return pb.ScaleRequest(
        task_id=task_id,
        worker_count=workers,
        repository="otto/demo",
        commit_sha="abc123",
        build_config={key.replace("mock_", "mock."): value for key, value in config.items()},
        triggered_by="tests",
        metadata={"request_id": request_id} if request_id else {},
    )


async def scale_up(
    stub: Stub, task_id: str, workers: int, request_id: str = "", **config: str
) -> pb.ScaleResponse:
    response: pb.ScaleResponse = await stub.ScaleUp(
        scale_request(task_id, workers, request_id, **config)
    )
    return response


async def scale_down(stub: Stub, task_id: str, target: int) -> pb.ScaleResponse:
    response: pb.ScaleResponse = await stub.ScaleDown(
        pb.ScaleRequest(task_id=task_id, worker_count=target)
    )
    return response


async def status(stub: Stub, task_id: str = "", status_filter: str = "") -> pb.WorkerStatusResponse:
    response: pb.WorkerStatusResponse = await stub.GetWorkerStatus(
        pb.WorkerStatusRequest(task_id=task_id, status_filter=status_filter)
    )
    return response


async def pool_closed(client: Client, task_id: str) -> WorkflowExecutionStatus:
    """Waits until the task's pool workflow has closed; returns how it closed."""

    async def closed() -> WorkflowExecutionStatus | None:
        description = await client.get_workflow_handle(pool_workflow_id(task_id)).describe()
        if description.status is WorkflowExecutionStatus.RUNNING:
            return None
        return description.status

    found = await eventually(closed)
    assert found is not None
    return found
