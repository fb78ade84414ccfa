"""The worker-pool vocabulary: ScaleUp/ScaleDown in and out, notices, the pool's state.

Pydantic models only, like workflows/pipeline/models.py: the gateway translates the wire messages
into these, WorkerPoolWorkflow carries them through Temporal (updates, continue-as-new)
and the notify activity turns WorkerNotice into NotifyWorkerStatus calls.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from workflows.base.model import Frozen
from workflows.workers.spec import WorkerInfo, WorkerPhase


class ScaleStatus(StrEnum):
    """Mirrors the wire enum ScaleResponse.Status; the gateway maps one onto the other."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PARTIAL_SUCCESS = "PARTIAL_SUCCESS"
    ALREADY_PROCESSED = "ALREADY_PROCESSED"


class ScaleUpRequest(Frozen):
    """One ScaleUp; image and command are filled in by the gateway from its settings."""

    task_id: str
    worker_count: int
    repository: str = ""
    commit_sha: str = ""
    # Keys follow the stage-config rules: env names become env vars, mock.*, ottoscaler.*.
    build_config: dict[str, str] = Field(default_factory=dict)
    triggered_by: str = ""
    reason: str = ""
    # metadata["request_id"]: a repeated request with the same id creates nothing.
    request_id: str = ""
    image: str = ""
    command: tuple[str, ...] = ()
    # The gateway's signature over the workers this request makes (workflows/workers/signed.py).
    signature: str = ""


class ScaleDownRequest(Frozen):
    """Deletes the pool's running and pending workers down to target; 0 ends the pool."""

    target: int


class ScaleResult(Frozen):
    status: ScaleStatus
    message: str
    worker_names: tuple[str, ...] = ()
    started_at: datetime
    completed_at: datetime


class Created(Frozen):
    """One worker of a batch create: the worker, or why the runtime refused it for good."""

    info: WorkerInfo | None = None
    error: str = ""


class PoolWorker(Frozen):
    """A worker as its pool knows it. index orders workers by age (newest = largest)."""

    name: str
    index: int
    # Which ScaleUp made it: its key in PoolState.requests, '#<first index it reserved>'.
    request_key: str
    phase: WorkerPhase
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.phase in (WorkerPhase.SUCCEEDED, WorkerPhase.FAILED)


class NoticeStatus(StrEnum):
    """Mirrors WorkerStatusNotification.StatusType."""

    CREATED = "CREATED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    TERMINATED = "TERMINATED"


class WorkerNotice(Frozen):
    """One worker transition for otto-handler (NotifyWorkerStatus)."""

    worker_id: str
    task_id: str
    status: NoticeStatus
    timestamp: datetime
    reason: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)


class PoolSettings(Frozen):
    """Fixed when the pool starts (from the gateway's settings), carried across runs.
    max_workers_per_task is the pool's own bookkeeping; the create activity holds to its
    process's own limit whatever this says (activities/pools/workers.py)."""

    worker_ttl_seconds: float = 300.0
    max_workers_per_task: int = 50
    notify: bool = False
    # Continue as new past this many history events; 0 = when Temporal suggests it.
    history_limit: int = 0


class PoolTotals(Frozen):
    """What the pool did over its whole life; the workflow's result."""

    created: int = 0
    succeeded: int = 0
    failed: int = 0
    terminated: int = 0

    def plus(
        self, *, created: int = 0, succeeded: int = 0, failed: int = 0, terminated: int = 0
    ) -> PoolTotals:
        return PoolTotals(
            created=self.created + created,
            succeeded=self.succeeded + succeeded,
            failed=self.failed + failed,
            terminated=self.terminated + terminated,
        )


class PoolState(Frozen):
    """Everything a pool carries into its next run when it continues as new."""

    # The first run's id: worker names and the run label derive from it, so they stay
    # the same across continue-as-new and never match another pool's of the same task.
    run: str
    next_index: int = 0
    workers: tuple[PoolWorker, ...] = ()
    requests: dict[str, ScaleUpRequest] = Field(default_factory=dict)
    answers: dict[str, ScaleResult] = Field(default_factory=dict)
    outbox: tuple[WorkerNotice, ...] = ()
    totals: PoolTotals = PoolTotals()


class PoolInput(Frozen):
    task_id: str
    settings: PoolSettings = PoolSettings()
    state: PoolState | None = None
