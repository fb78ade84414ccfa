"""StreamWorkerLogs and StreamWorkerLogBatches over real gRPC: replay, then follow live,
filters, errors."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc import aio

from activities.logs import PodMeta
from activities.logs.lines import LogLine, utcnow
from gateway.logs.wire import batches_to_wire, pod_metadata
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import (
    archived_lines,
    by_pod,
    collect,
    log_entries,
    pipeline,
    printed,
    printing,
)
from tests.waiting import eventually

both_rpcs = pytest.mark.parametrize("batched", [False, True], ids=["per-line", "batches"])


@both_rpcs
async def test_replay_then_follow_delivers_every_line_once_in_order(
    stub: pb_grpc.OttoscalerServiceAsyncStub, settings: Settings, batched: bool
) -> None:
    request = pipeline(
        printing("build", workers=2, lines=300, rate=300),
        printing("test", "build", lines=100),
    )
    running = asyncio.create_task(collect(stub.ExecutePipeline(request)))

    async def printing_started() -> bool:
        return await archived_lines(settings.log_dir, request.pipeline_id) >= 100

    await eventually(printing_started)
    follow = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id, follow=True)
    entries = await log_entries(stub, follow, batched=batched)  # ends with the pipeline
    progress = await running
    assert progress[-1].status == pb.STAGE_COMPLETED
    pods = by_pod(entries)
    build = [pod for pod in pods if "-build-" in pod]
    (test,) = [pod for pod in pods if "-test-" in pod]
    assert len(build) == 2
    assert all(pods[pod] == printed(300) for pod in build)
    assert pods[test] == printed(100)
    last = entries[-1]
    assert (last.task_id, last.source, last.pod_metadata.labels["stage-id"]) == (
        request.pipeline_id,
        "stdout",
        "test",
    )
    assert last.timestamp.endswith("Z")


async def test_filters_and_from_sequence_select_what_is_replayed(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    request = pipeline(printing("build", workers=2, lines=20), printing("test", "build", lines=20))
    await collect(stub.ExecutePipeline(request))
    pid = request.pipeline_id

    async def replay(request: pb.WorkerLogsRequest) -> dict[str, list[tuple[int, str]]]:
        return by_pod(await collect(stub.StreamWorkerLogs(request)))

    everything = await replay(pb.WorkerLogsRequest(task_id=pid))
    assert len(everything) == 3 and all(lines == printed(20) for lines in everything.values())
    (test_pod,) = await replay(pb.WorkerLogsRequest(pipeline_id=pid, stage_id="test"))
    assert "-test-" in test_pod
    build_pod = sorted(everything)[0]
    from_15 = pb.WorkerLogsRequest(worker_pod_name=build_pod, from_sequence=15)
    assert await replay(from_15) == {build_pod: printed(20, first=15)}


@pytest.mark.parametrize(
    ("bad", "code", "names"),
    [
        (pb.WorkerLogsRequest(), grpc.StatusCode.INVALID_ARGUMENT, "pipeline_id, task_id"),
        (
            pb.WorkerLogsRequest(pipeline_id="p", from_sequence=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "from_sequence",
        ),
        (pb.WorkerLogsRequest(pipeline_id="nope"), grpc.StatusCode.NOT_FOUND, "pipeline_id"),
        (pb.WorkerLogsRequest(worker_pod_name="nope"), grpc.StatusCode.NOT_FOUND, "worker_pod"),
        (
            pb.WorkerLogsRequest(worker_pod_name="nope", follow=True),
            grpc.StatusCode.NOT_FOUND,
            "worker_pod",
        ),
    ],
)
@both_rpcs
async def test_bad_requests_name_the_field(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    bad: pb.WorkerLogsRequest,
    code: grpc.StatusCode,
    names: str,
    batched: bool,
) -> None:
    with pytest.raises(aio.AioRpcError) as raised:
        await log_entries(stub, bad, batched=batched)
    assert raised.value.code() is code
    assert names in (raised.value.details() or "")


async def test_a_slow_or_vanished_client_does_not_hold_up_the_others(
    stub: pb_grpc.OttoscalerServiceAsyncStub, settings: Settings
) -> None:
    request = pipeline(printing("build", lines=5000, rate=5000))
    running = asyncio.create_task(collect(stub.ExecutePipeline(request)))
    await eventually(lambda: _started(settings, request.pipeline_id))
    follow = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id, follow=True)
    slow = stub.StreamWorkerLogs(follow)  # opened, not read until the end
    vanishing = stub.StreamWorkerLogs(follow)
    await vanishing.read()
    vanishing.cancel()
    fast = await collect(stub.StreamWorkerLogs(follow))
    assert [e.sequence for e in fast] == list(range(1, 5001))
    await running
    assert [e.sequence for e in await collect(slow)] == list(range(1, 5001))


async def test_batches_carry_many_lines_each_and_stay_under_the_message_limit(
    stub: pb_grpc.OttoscalerServiceAsyncStub, settings: Settings
) -> None:
    request = pipeline(printing("build", lines=3000))
    await collect(stub.ExecutePipeline(request))
    replay = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id)
    batches = await collect(stub.StreamWorkerLogBatches(replay))
    assert [e.sequence for b in batches for e in b.entries] == list(range(1, 3001))
    assert len(batches) < 100  # many lines to a message, not one


def test_long_lines_are_cut_into_batches_grpc_accepts() -> None:
    long_line = "é" * (64 * 1024)  # two bytes a character: 128 KiB each
    lines = [LogLine(utcnow(), "stdout", long_line, sequence=n) for n in range(1, 41)]
    meta = PodMeta(pod="p-build-0", task_id="p")
    pod = pod_metadata(meta, "default")
    batches = list(batches_to_wire(meta, pod, lines))
    assert [e.sequence for batch in batches for e in batch.entries] == list(range(1, 41))
    assert all(e.message == long_line for batch in batches for e in batch.entries)
    sizes = [batch.ByteSize() for batch in batches]
    assert max(sizes) <= 2 * 1024 * 1024 < sum(sizes)  # gRPC refuses messages over 4 MiB


async def _started(settings: Settings, pipeline_id: str) -> bool:
    return await archived_lines(settings.log_dir, pipeline_id) > 0
