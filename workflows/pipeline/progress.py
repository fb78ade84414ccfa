"""The pipeline's state machine: current stage states plus an ordered transition log.

The workflow mutates it; the `progress` query reads it. Every change appends one
ProgressEvent with the next version, so the gateway can stream each transition exactly
once and in order by asking for the events after the last version it has sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workflows.pipeline.models import (
    FINISHED,
    PipelineSnapshot,
    ProgressEvent,
    ProgressPage,
    StageMetrics,
    StageState,
    StageStatus,
)

# Keeps one query answer far below gRPC's 4 MiB message limit; callers page on.
PAGE_LIMIT = 500


class PipelineProgress:
    def __init__(self, pipeline_id: str, stages: list[StageState]) -> None:
        self.pipeline_id = pipeline_id
        self.status = StageStatus.PENDING
        self.stages: dict[str, StageState] = {s.stage_id: s for s in stages}
        self.events: list[ProgressEvent] = []
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error_message = ""

    @property
    def version(self) -> int:
        return len(self.events)

    @property
    def percentage(self) -> int:
        finished = sum(1 for s in self.stages.values() if s.status in FINISHED)
        return finished * 100 // max(1, len(self.stages))

    def stage_status(self) -> dict[str, StageStatus]:
        return {sid: s.status for sid, s in self.stages.items()}

    def update_stage(self, now: datetime, stage_id: str, **changes: Any) -> StageState:
        """Applies changes to one stage and logs the transition."""
        state = self.stages[stage_id].model_copy(update=changes)
        if state.status is StageStatus.RUNNING and state.started_at is None:
            state = state.model_copy(update={"started_at": now})
        if state.status in FINISHED and state.completed_at is None:
            state = state.model_copy(update={"completed_at": now})
            duration = _seconds(state.started_at, now)
            state = state.model_copy(
                update={"metrics": state.metrics.model_copy(update={"duration_seconds": duration})}
            )
        self.stages[stage_id] = state
        self.events.append(stage_event(state, self.version + 1, now, self.percentage))
        return state

    def update_pipeline(
        self, now: datetime, status: StageStatus, message: str, error_message: str = ""
    ) -> None:
        self.status = status
        if status is StageStatus.RUNNING and self.started_at is None:
            self.started_at = now
        if status in FINISHED:
            self.completed_at = now
        self.error_message = error_message or self.error_message
        self._log(
            now,
            status=status,
            message=message,
            started_at=self.started_at,
            completed_at=self.completed_at,
            error_message=self.error_message,
            metrics=self._pipeline_metrics(),
        )

    def _pipeline_metrics(self) -> StageMetrics:
        stages = self.stages.values()
        return StageMetrics(
            duration_seconds=_seconds(self.started_at, self.completed_at),
            successful_workers=sum(s.metrics.successful_workers for s in stages),
            failed_workers=sum(s.metrics.failed_workers for s in stages),
            total_workers=sum(s.metrics.total_workers for s in stages),
        )

    def _log(self, now: datetime, **fields: Any) -> None:
        self.events.append(
            ProgressEvent(
                version=self.version + 1,
                timestamp=now,
                progress_percentage=self.percentage,
                **fields,
            )
        )

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot(
            pipeline_id=self.pipeline_id,
            status=self.status,
            stages=tuple(self.stages.values()),
            progress_percentage=self.percentage,
            version=self.version,
            started_at=self.started_at,
            completed_at=self.completed_at,
            error_message=self.error_message,
        )

    def page(self, after_version: int, limit: int = PAGE_LIMIT) -> ProgressPage:
        start = max(0, after_version)
        return ProgressPage(
            snapshot=self.snapshot(), events=tuple(self.events[start : start + limit])
        )


def _seconds(start: datetime | None, end: datetime | None) -> int:
    if start is None or end is None:
        return 0
    return int((end - start).total_seconds())


def stage_event(
    state: StageState, version: int, timestamp: datetime, percentage: int
) -> ProgressEvent:
    """A stage's state as one progress event: a logged transition or a snapshot entry."""
    return ProgressEvent(
        version=version,
        timestamp=timestamp,
        stage_id=state.stage_id,
        status=state.status,
        message=state.message,
        worker_pod_names=state.worker_pod_names,
        progress_percentage=percentage,
        started_at=state.started_at,
        completed_at=state.completed_at,
        error_message=state.error_message,
        metrics=state.metrics,
    )
