"""The pipeline's state machine: current stage states plus an ordered transition log.

The workflow mutates it; the `progress` query reads it. Every change appends one
ProgressEvent with the next version, so the gateway can stream each transition exactly
once and in order by asking for the events after the last version it has sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from workflows.base.sizes import clip, json_bytes
from workflows.pipeline.models import (
    FINISHED,
    PipelineSnapshot,
    ProgressEvent,
    ProgressPage,
    StageMetrics,
    StageSpec,
    StageState,
    StageStatus,
)
from workflows.workers.room import RoomReport

# A page answers the `progress` query, and the last one is the workflow's result: one
# payload each, refused past 2 MiB (workflows/base/sizes.py). It holds the snapshot and
# events of at most PAGE_EVENTS_BYTES (always one at least); callers ask for the next.
PAGE_EVENTS_BYTES = 512 * 1024
# The snapshot's texts (stages' messages and errors, the pipeline's error) together: when
# they hold more, the longest are cut to fit. Its other parts are planned at submit:
# about STAGE_STATE_BYTES a stage and WORKER_NAME_BYTES a worker, SNAPSHOT_BYTES_BUDGET in all.
SNAPSHOT_TEXT_CHARS = 96 * 1024
SNAPSHOT_BYTES_BUDGET = 768 * 1024
STAGE_STATE_BYTES = 384
WORKER_NAME_BYTES = 72
# What a transition keeps of the texts that come from outside (a runtime's failure, a
# cancel reason), so that any one event fits a page.
MAX_MESSAGE_CHARS = 1024
MAX_ERROR_CHARS = 64 * 1024


class PipelineProgress:
    def __init__(self, pipeline_id: str, stages: list[StageState]) -> None:
        self.pipeline_id = pipeline_id
        self.status = StageStatus.PENDING
        self.stages: dict[str, StageState] = {s.stage_id: s for s in stages}
        self.events: list[ProgressEvent] = []
        self._event_bytes: list[int] = []  # json_bytes of each event, measured once
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error_message = ""
        # Workers of each stage's current attempt that wait for room under MAX_WORKERS.
        self._waiting: dict[str, frozenset[str]] = {}

    @property
    def version(self) -> int:
        return len(self.events)

    @property
    def percentage(self) -> int:
        finished = sum(1 for s in self.stages.values() if s.status in FINISHED)
        return finished * 100 // max(1, len(self.stages))

    def stage_status(self) -> dict[str, StageStatus]:
        return {sid: s.status for sid, s in self.stages.items()}

    # Stage transitions: one named method each, so every change the workflow makes to a
    # stage is spelt out and type-checked.

    def stage_scheduled(self, now: datetime, stage_id: str) -> None:
        self._move(now, stage_id, StageStatus.RUNNING, "starting")

    def stage_reused(self, now: datetime, stage_id: str, outputs: dict[str, str]) -> None:
        message = "reused from the previous run"
        self._move(now, stage_id, StageStatus.COMPLETED, message, outputs=outputs)

    def attempt_started(
        self, now: datetime, stage_id: str, attempt: int, worker_pod_names: tuple[str, ...]
    ) -> None:
        max_attempts = self.stages[stage_id].max_attempts
        self._move(
            now,
            stage_id,
            StageStatus.RUNNING,
            f"attempt {attempt}/{max_attempts}",
            attempt=attempt,
            worker_pod_names=worker_pod_names,
            error_message="",
        )

    def retry_scheduled(
        self, now: datetime, stage_id: str, next_attempt: int, delay_seconds: int, error: str
    ) -> None:
        max_attempts = self.stages[stage_id].max_attempts
        self._move(
            now,
            stage_id,
            StageStatus.RETRYING,
            f"attempt {next_attempt}/{max_attempts} in {delay_seconds}s",
            error_message=error,
        )

    def stage_ended(
        self,
        now: datetime,
        stage_id: str,
        status: StageStatus,
        message: str,
        *,
        attempt: int,
        worker_pod_names: tuple[str, ...],
        error_message: str,
        metrics: StageMetrics,
        outputs: dict[str, str] | None = None,
    ) -> None:
        """A stage's own end: COMPLETED (with its outputs) or FAILED after its attempts."""
        self._move(
            now,
            stage_id,
            status,
            message,
            attempt=attempt,
            worker_pod_names=worker_pod_names,
            error_message=error_message,
            metrics=metrics,
            outputs=outputs,
        )

    def approval_waiting(self, now: datetime, stage_id: str, message: str) -> None:
        """An approval stage waits for its answer: RUNNING, which every client knows."""
        self._move(now, stage_id, StageStatus.RUNNING, message)

    def room_reported(self, now: datetime, report: RoomReport) -> bool:
        """Workers of a running attempt started or stopped waiting for room. Logs a
        transition only when the stage starts or stops waiting; True when it did."""
        state = self.stages.get(report.stage_id)
        if state is None or state.status is not StageStatus.RUNNING:
            return False  # a late report must not reopen a finished stage
        if state.attempt != report.attempt:
            return False
        before = self._waiting.get(report.stage_id, frozenset())
        after = (before | set(report.waiting)) - set(report.done_waiting)
        if bool(after) == bool(before):
            self._waiting[report.stage_id] = after
            return False
        attempt = f"attempt {state.attempt}/{state.max_attempts}"
        if after:
            message = f"{attempt} · waiting for room: MAX_WORKERS={report.max_workers}"
        else:
            message = f"{attempt} · no longer waiting for room"
        self._move(now, report.stage_id, StageStatus.RUNNING, message)
        self._waiting[report.stage_id] = after
        return True

    def stage_skipped(self, now: datetime, stage_id: str, message: str) -> None:
        self._move(now, stage_id, StageStatus.SKIPPED, message)

    def stage_cancelled(self, now: datetime, stage_id: str, message: str) -> None:
        self._move(now, stage_id, StageStatus.CANCELLED, message)

    def _move(
        self,
        now: datetime,
        stage_id: str,
        status: StageStatus,
        message: str,
        *,
        attempt: int | None = None,
        worker_pod_names: tuple[str, ...] | None = None,
        error_message: str | None = None,
        metrics: StageMetrics | None = None,
        outputs: dict[str, str] | None = None,
    ) -> None:
        """Sets the stage's new state (times stamped on entering RUNNING and on finishing)
        and logs the transition. Fields left None keep their value. Any move ends what
        the stage's workers waited for; a room report sets it again."""
        self._waiting.pop(stage_id, None)
        old = self.stages[stage_id]
        started_at = old.started_at
        if status is StageStatus.RUNNING and started_at is None:
            started_at = now
        completed_at = old.completed_at
        metrics = metrics or old.metrics
        if status in FINISHED and completed_at is None:
            completed_at = now
            metrics = StageMetrics(
                duration_seconds=_seconds(started_at, now),
                successful_workers=metrics.successful_workers,
                failed_workers=metrics.failed_workers,
                total_workers=metrics.total_workers,
            )
        state = StageState(
            stage_id=stage_id,
            status=status,
            message=clip(message, MAX_MESSAGE_CHARS),
            attempt=old.attempt if attempt is None else attempt,
            max_attempts=old.max_attempts,
            worker_pod_names=(
                old.worker_pod_names if worker_pod_names is None else worker_pod_names
            ),
            started_at=started_at,
            completed_at=completed_at,
            error_message=(
                old.error_message if error_message is None else clip(error_message, MAX_ERROR_CHARS)
            ),
            metrics=metrics,
            outputs=old.outputs if outputs is None else outputs,
        )
        self.stages[stage_id] = state
        self._log(stage_event(state, self.version + 1, now, self.percentage))

    def update_pipeline(
        self, now: datetime, status: StageStatus, message: str, error_message: str = ""
    ) -> None:
        self.status = status
        if status is StageStatus.RUNNING and self.started_at is None:
            self.started_at = now
        if status in FINISHED:
            self.completed_at = now
        self.error_message = clip(error_message, MAX_ERROR_CHARS) or self.error_message
        self._log(
            ProgressEvent(
                version=self.version + 1,
                timestamp=now,
                status=status,
                message=clip(message, MAX_MESSAGE_CHARS),
                progress_percentage=self.percentage,
                started_at=self.started_at,
                completed_at=self.completed_at,
                error_message=self.error_message,
                metrics=self._pipeline_metrics(),
            )
        )

    def _pipeline_metrics(self) -> StageMetrics:
        stages = self.stages.values()
        return StageMetrics(
            duration_seconds=_seconds(self.started_at, self.completed_at),
            successful_workers=sum(s.metrics.successful_workers for s in stages),
            failed_workers=sum(s.metrics.failed_workers for s in stages),
            total_workers=sum(s.metrics.total_workers for s in stages),
        )

    def _log(self, event: ProgressEvent) -> None:
        self.events.append(event)
        self._event_bytes.append(json_bytes(event))

    def snapshot(self) -> PipelineSnapshot:
        """Every stage's state, the texts cut to SNAPSHOT_TEXT_CHARS together."""
        stages = tuple(self.stages.values())
        error = self.error_message
        texts = [s.message for s in stages] + [s.error_message for s in stages] + [error]
        if sum(len(t) for t in texts) > SNAPSHOT_TEXT_CHARS:
            cut = fair_cut(texts, SNAPSHOT_TEXT_CHARS)
            n = len(stages)
            stages = tuple(
                s.model_copy(update={"message": cut[i], "error_message": cut[n + i]})
                for i, s in enumerate(stages)
            )
            error = cut[-1]
        return PipelineSnapshot(
            pipeline_id=self.pipeline_id,
            status=self.status,
            stages=stages,
            progress_percentage=self.percentage,
            version=self.version,
            started_at=self.started_at,
            completed_at=self.completed_at,
            error_message=error,
        )

    def page(self, after_version: int) -> ProgressPage:
        """The events after `after_version`, as many as PAGE_EVENTS_BYTES hold."""
        start = end = max(0, after_version)
        size = 0
        while end < len(self.events) and (
            end == start or size + self._event_bytes[end] <= PAGE_EVENTS_BYTES
        ):
            size += self._event_bytes[end]
            end += 1
        return ProgressPage(snapshot=self.snapshot(), events=tuple(self.events[start:end]))

    def tail(self, most: int) -> ProgressPage:
        """The last events, at most `most` of them and PAGE_EVENTS_BYTES."""
        start = end = len(self.events)
        size = 0
        while (
            start > end - most
            and start > 0
            and size + self._event_bytes[start - 1] <= PAGE_EVENTS_BYTES
        ):
            size += self._event_bytes[start - 1]
            start -= 1
        return ProgressPage(snapshot=self.snapshot(), events=tuple(self.events[start:end]))


def fair_cut(texts: list[str], budget: int) -> list[str]:
    """The texts cut to hold about `budget` characters together: the longest to the same
    length, the largest that fits, so that short ones stay whole."""
    left, count = budget, len(texts)
    for length in sorted(len(t) for t in texts):
        if length * count > left:
            break
        left -= length
        count -= 1
    share = left // count
    return [clip(t, share) for t in texts]


def snapshot_bytes(stages: Iterable[StageSpec]) -> int:
    """About what a pipeline's snapshot weighs without its texts."""
    return sum(STAGE_STATE_BYTES + WORKER_NAME_BYTES * s.worker_count for s in stages)


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
        outputs=state.outputs,
    )
