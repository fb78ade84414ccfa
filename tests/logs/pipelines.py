"""Pipelines of mock workers that print, and reading their logs back."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import TypeVar

from activities.logs import Archive, LogSelector
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

T = TypeVar("T")


def printing(
    stage_id: str, *depends_on: str, workers: int = 1, lines: int = 0, rate: float = 0
) -> pb.PipelineStage:
    return pb.PipelineStage(
        stage_id=stage_id,
        type="build",
        worker_count=workers,
        depends_on=depends_on,
        config={"mock.lines": str(lines), "mock.line_rate": str(rate)},
    )


def pipeline(*stages: pb.PipelineStage) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"logs-{uuid.uuid4().hex[:10]}", stages=stages, repository="otto/demo"
    )


async def collect(stream: AsyncIterable[T]) -> list[T]:
    return [item async for item in stream]


async def log_entries(
    stub: pb_grpc.OttoscalerServiceAsyncStub, request: pb.WorkerLogsRequest, *, batched: bool
) -> list[pb.WorkerLogEntry]:
    """Every entry of StreamWorkerLogs, or of StreamWorkerLogBatches unpacked."""
    if not batched:
        return await collect(stub.StreamWorkerLogs(request))
    return [
        entry async for batch in stub.StreamWorkerLogBatches(request) for entry in batch.entries
    ]


def by_pod(entries: Iterable[pb.WorkerLogEntry]) -> dict[str, list[tuple[int, str]]]:
    pods: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for entry in entries:
        pods[entry.worker_id].append((entry.sequence, entry.message))
    return dict(pods)


def printed(count: int, first: int = 1) -> list[tuple[int, str]]:
    return [(n, f"line {n}") for n in range(first, count + 1)]


async def archived_lines(log_dir: Path, pipeline_id: str) -> int:
    archive = Archive(log_dir)
    metas = await archive.find(LogSelector(pipeline_id=pipeline_id))
    return sum([len(await archive.reader(meta).read(after=0)) for meta in metas])
