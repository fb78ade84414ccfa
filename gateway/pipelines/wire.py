"""proto ⇄ models. Servicers translate at the edge; protobuf never reaches a workflow."""

from __future__ import annotations

from datetime import datetime

from gateway.pipelines.stage_type import stage_type
from gateway.timestamps import rfc3339
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.pipeline.cleanup import CLEANUP_TYPE, bounded
from workflows.pipeline.matrix import MAX_AXES, MatrixAxis, combination_count
from workflows.pipeline.models import (
    PipelineSnapshot,
    PipelineSpec,
    ProgressEvent,
    RetrySpec,
    StageMetrics,
    StageSpec,
    StageState,
    StageStatus,
)
from workflows.pipeline.progress import stage_event

_TO_WIRE_STATUS = {status: pb.StageStatus.Value(f"STAGE_{status.value}") for status in StageStatus}


def wire_status(status: StageStatus) -> pb.StageStatus.ValueType:
    return _TO_WIRE_STATUS[status]


def stage_from_wire(stage: pb.PipelineStage) -> StageSpec:
    retry = stage.retry_policy
    kind = stage_type(stage)
    matrix = tuple(MatrixAxis(name=a.name, values=tuple(a.values)) for a in stage.matrix)
    spec = StageSpec(
        stage_id=stage.stage_id,
        type=kind,
        name=stage.name or stage.stage_id,
        worker_count=_worker_count(stage.worker_count, matrix),
        depends_on=tuple(stage.depends_on),
        config=dict(stage.config),
        image=stage.image,
        command=tuple(stage.command),
        args=tuple(stage.args),
        timeout_seconds=stage.timeout_seconds,
        retry=RetrySpec(
            max_attempts=retry.max_attempts,
            retry_delay_seconds=retry.retry_delay_seconds,
            retryable_failures=tuple(retry.retryable_failures),
        ),
        when=stage.when,
        cleanup=stage.cleanup or kind == CLEANUP_TYPE,
        matrix=matrix,
    )
    return bounded(spec)


def _worker_count(given: int, matrix: tuple[MatrixAxis, ...]) -> int:
    """proto3 cannot tell an unset worker_count from 0, so 0 means 1; with a matrix, 0 and
    1 mean its product (validation refuses any other count but the product)."""
    # Past MAX_AXES validation refuses the matrix: its product is never computed then,
    # however many axes a hostile request holds.
    if matrix and given in (0, 1) and len(matrix) <= MAX_AXES:
        return combination_count(matrix)
    return given or 1


def pipeline_from_wire(request: pb.PipelineRequest) -> PipelineSpec:
    return PipelineSpec(
        pipeline_id=request.pipeline_id,
        name=request.name or request.pipeline_id,
        stages=tuple(stage_from_wire(s) for s in request.stages),
        repository=request.repository,
        commit_sha=request.commit_sha,
        triggered_by=request.triggered_by,
        metadata=dict(request.metadata),
        timeout_seconds=request.timeout_seconds,
    )


def metrics_to_wire(metrics: StageMetrics) -> pb.StageMetrics:
    return pb.StageMetrics(
        duration_seconds=metrics.duration_seconds,
        successful_workers=metrics.successful_workers,
        failed_workers=metrics.failed_workers,
        total_workers=metrics.total_workers,
    )


def event_to_wire(pipeline_id: str, event: ProgressEvent) -> pb.PipelineProgress:
    return pb.PipelineProgress(
        pipeline_id=pipeline_id,
        stage_id=event.stage_id,
        status=wire_status(event.status),
        message=event.message,
        worker_pod_names=list(event.worker_pod_names),
        progress_percentage=event.progress_percentage,
        timestamp=rfc3339(event.timestamp),
        started_at=rfc3339(event.started_at),
        completed_at=rfc3339(event.completed_at),
        error_message=event.error_message,
        metrics=metrics_to_wire(event.metrics) if event.metrics else None,
        outputs=event.outputs,
    )


def stage_to_wire(
    pipeline_id: str, state: StageState, version: int, now: datetime
) -> pb.PipelineProgress:
    """A stage's latest state, as of the snapshot's version; 100% once it finished."""
    percentage = 100 if state.status.finished else 0
    return event_to_wire(pipeline_id, stage_event(state, version, now, percentage))


def snapshot_to_wire(snapshot: PipelineSnapshot, run_id: str, now: datetime) -> pb.PipelineSnapshot:
    return pb.PipelineSnapshot(
        pipeline_id=snapshot.pipeline_id,
        status=wire_status(snapshot.status),
        stages=[
            stage_to_wire(snapshot.pipeline_id, s, snapshot.version, now) for s in snapshot.stages
        ],
        progress_percentage=snapshot.progress_percentage,
        started_at=rfc3339(snapshot.started_at),
        completed_at=rfc3339(snapshot.completed_at),
        error_message=snapshot.error_message,
        run_id=run_id,
    )
