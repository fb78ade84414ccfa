"""A worker's log keeps at most LOG_MAX_BYTES_PER_WORKER: then one marker line, then nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.logs import Archive, LiveHub, LogSinks, PodMeta
from activities.logs.lines import LogLine, utcnow
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import by_pod, collect, log_entries, pipeline, printing

LIMIT = 1_000
MARKER = f"[log truncated: this worker printed more than {LIMIT} bytes; the rest is not kept]"


def lines(first: int, count: int, size: int = 99) -> list[LogLine]:
    return [
        LogLine(timestamp=utcnow(), source="stdout", message="x" * size, sequence=n)
        for n in range(first, first + count)
    ]


async def kept(archive: Archive, meta: PodMeta) -> list[tuple[int, str]]:
    return [(line.sequence, line.message) for line in await archive.reader(meta).read(after=0)]


async def test_past_the_limit_a_marker_is_kept_and_nothing_after_it(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub(), max_bytes_per_pod=LIMIT)
    meta = PodMeta(pod="p-0", task_id="t")
    async with await sinks.open(meta) as log:
        await log.write(lines(1, 5))
        assert not log.full
        await log.write(lines(6, 10))
        assert log.full
        await log.write(lines(16, 3))
    stored = await kept(archive, meta)
    # 100 bytes a line with its newline: ten lines fill the 1,000, the marker is the 11th.
    assert stored == [(n, "x" * 99) for n in range(1, 11)] + [(11, MARKER)]
    # A retried tail reopens the log, finds it cut, and keeps nothing more.
    async with await sinks.open(meta) as again:
        assert again.full
        await again.write(lines(len(stored) + 1, 2))
    assert await kept(archive, meta) == stored


async def test_one_line_larger_than_the_limit_becomes_the_marker(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub(), max_bytes_per_pod=LIMIT)
    meta = PodMeta(pod="p-1", task_id="t")
    async with await sinks.open(meta) as log:
        await log.write(lines(1, 1, size=5_000))
    assert await kept(archive, meta) == [(1, MARKER)]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"log_max_bytes_per_worker": LIMIT})


async def test_a_worker_printing_past_the_limit_completes_with_its_log_cut(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    request = pipeline(printing("loud", lines=100_000))
    events = await collect(stub.ExecutePipeline(request))
    assert events[-1].status == pb.STAGE_COMPLETED
    logs = by_pod(
        await log_entries(stub, pb.WorkerLogsRequest(pipeline_id=request.pipeline_id), batched=True)
    )
    (pod_lines,) = logs.values()
    # "line 1" to "line 123" and their newlines take 999 bytes; "line 124" would pass 1,000.
    assert pod_lines == [(n, f"line {n}") for n in range(1, 124)] + [(124, MARKER)]
