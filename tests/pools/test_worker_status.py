"""GetWorkerStatus: every managed worker (pools and pipelines), counts, filters, lookups."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable

import grpc
import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, scale_up, status
from tests.waiting import eventually

LONG = "600"


async def invalid(stub: Stub, request: pb.WorkerStatusRequest) -> aio.AioRpcError:
    with pytest.raises(aio.AioRpcError) as raised:
        await stub.GetWorkerStatus(request)
    return raised.value


async def test_an_unknown_status_filter_is_invalid_argument_naming_it(stub: Stub) -> None:
    error = await invalid(stub, pb.WorkerStatusRequest(status_filter="bogus"))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "status_filter: 'bogus' is not one of pending, running, succeeded, failed" in (
        error.details() or ""
    )


async def test_the_filter_narrows_the_list_while_counts_cover_the_task(stub: Stub) -> None:
    task = new_task()
    await scale_up(stub, task, 2, mock_duration=LONG)
    await scale_up(stub, task, 1, mock_exit_code="3")

    async def one_failed() -> pb.WorkerStatusResponse | None:
        seen = await status(stub, task, "failed")
        return seen if seen.failed_count == 1 else None

    failed = await eventually(one_failed)
    assert failed is not None
    assert (failed.total_count, failed.running_count, failed.failed_count) == (3, 2, 1)
    assert [w.status for w in failed.workers] == ["Failed"]
    assert failed.workers[0].error_message == "Error (exit 3)"
    assert failed.workers[0].completed_at.endswith("Z")
    running = await status(stub, task, "RUNNING")
    assert [w.status for w in running.workers] == ["Running", "Running"]


async def test_one_worker_by_name_and_an_unknown_name_is_not_found(stub: Stub) -> None:
    task = new_task()
    name = (await scale_up(stub, task, 2, mock_duration=LONG)).worker_pod_names[1]
    found = await stub.GetWorkerStatus(pb.WorkerStatusRequest(worker_pod_name=name))
    assert [w.pod_name for w in found.workers] == [name]
    assert found.total_count == 1
    error = await invalid(stub, pb.WorkerStatusRequest(worker_pod_name="otto-agent-nobody"))
    assert error.code() is grpc.StatusCode.NOT_FOUND
    assert "worker_pod_name: no worker 'otto-agent-nobody'" in (error.details() or "")


async def test_pipeline_workers_are_listed_with_their_labels(stub: Stub) -> None:
    pipeline_id = f"p-{uuid.uuid4().hex[:8]}"
    stage = pb.PipelineStage(stage_id="build", type="build", config={"mock.duration": LONG})
    stream = stub.ExecutePipeline(pb.PipelineRequest(pipeline_id=pipeline_id, stages=[stage]))
    events = asyncio.ensure_future(_collect(stream))

    async def listed() -> pb.WorkerStatusResponse | None:
        seen = await status(stub, pipeline_id)
        return seen if seen.running_count else None

    seen = await eventually(listed)
    assert seen is not None
    labels = seen.workers[0].labels
    assert (labels["pipeline-id"], labels["stage-id"]) == (pipeline_id, "build")
    assert seen.workers[0].task_id == pipeline_id
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=pipeline_id))
    assert (await asyncio.wait_for(events, 10))[-1].status == pb.STAGE_CANCELLED


async def _collect(stream: AsyncIterable[pb.PipelineProgress]) -> list[pb.PipelineProgress]:
    return [event async for event in stream]
