"""Logs on the wire: archived lines as WorkerLogEntry, WorkerLogsRequest as a selector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache

from activities.logs import LogSelector, PodMeta
from activities.logs.lines import LogLine
from gateway.errors import InvalidArgument
from gateway.timestamps import rfc3339
from ottoscaler.v1 import ottoscaler_pb2 as pb


def pod_metadata(meta: PodMeta, namespace: str) -> pb.WorkerMetadata:
    return pb.WorkerMetadata(
        pod_name=meta.pod,
        namespace=namespace,
        created_at=rfc3339(meta.created_at),
        labels=meta.labels,
    )


# Lines printed in one burst share their timestamp: format it once.
_timestamp = lru_cache(maxsize=256)(rfc3339)
# Message text per WorkerLogBatch, in characters: at most 2 MiB on the wire even in 4-byte
# UTF-8, well below gRPC's default 4 MiB limit on received messages.
BATCH_CHARS = 512 * 1024
# Per entry, for what is not the message: names, timestamp, pod metadata.
ENTRY_OVERHEAD_CHARS = 256


def entry_to_wire(meta: PodMeta, pod: pb.WorkerMetadata, line: LogLine) -> pb.WorkerLogEntry:
    """pod is pod_metadata(meta, ...), built once per pod rather than once per line."""
    entry = pb.WorkerLogEntry()
    _fill(entry, meta, pod, line)
    return entry


def batches_to_wire(
    meta: PodMeta, pod: pb.WorkerMetadata, lines: Sequence[LogLine], max_chars: int = BATCH_CHARS
) -> Iterator[pb.WorkerLogBatch]:
    """lines as consecutive WorkerLogBatches of at most max_chars characters each.

    Entries are built in place in their batch: building them apart and then copying them
    in costs twice as much, and this is the hot path of StreamWorkerLogBatches."""
    batch = pb.WorkerLogBatch()
    size = 0
    for line in lines:
        cost = len(line.message) + ENTRY_OVERHEAD_CHARS
        if size and size + cost > max_chars:
            yield batch
            batch, size = pb.WorkerLogBatch(), 0
        _fill(batch.entries.add(), meta, pod, line)
        size += cost
    if size:
        yield batch


def _fill(entry: pb.WorkerLogEntry, meta: PodMeta, pod: pb.WorkerMetadata, line: LogLine) -> None:
    entry.worker_id = meta.pod
    entry.task_id = meta.task_id
    entry.timestamp = _timestamp(line.timestamp)
    entry.level = line.level
    entry.source = line.source
    entry.message = line.message
    entry.pod_metadata.CopyFrom(pod)
    entry.sequence = line.sequence


def selector_from_wire(request: pb.WorkerLogsRequest) -> LogSelector:
    selector = LogSelector(
        pipeline_id=request.pipeline_id,
        task_id=request.task_id,
        pod=request.worker_pod_name,
        stage_id=request.stage_id,
    )
    if selector == LogSelector():
        raise InvalidArgument(
            "WorkerLogsRequest: give pipeline_id, task_id, worker_pod_name or stage_id"
        )
    if request.from_sequence < 0:
        raise InvalidArgument(f"from_sequence: must be 0 or more, not {request.from_sequence}")
    return selector
