"""Logs on the wire: archived lines as WorkerLogEntry, WorkerLogsRequest as a selector."""

from __future__ import annotations

from activities.log_sinks import LogSelector, PodMeta
from activities.worker_log import LogLine
from gateway.errors import InvalidArgument
from gateway.translate import rfc3339
from ottoscaler.v1 import ottoscaler_pb2 as pb


def pod_metadata(meta: PodMeta, namespace: str) -> pb.WorkerMetadata:
    return pb.WorkerMetadata(
        pod_name=meta.pod,
        namespace=namespace,
        created_at=rfc3339(meta.created_at),
        labels=meta.labels,
    )


def entry_to_wire(meta: PodMeta, pod: pb.WorkerMetadata, line: LogLine) -> pb.WorkerLogEntry:
    """pod is pod_metadata(meta, ...), built once per pod rather than once per line."""
    return pb.WorkerLogEntry(
        worker_id=meta.pod,
        task_id=meta.task_id,
        timestamp=rfc3339(line.timestamp),
        level=line.level,
        source=line.source,
        message=line.message,
        pod_metadata=pod,
        sequence=line.sequence,
    )


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
