"""The pipeline vocabulary every layer shares: specs in, state and progress out.

Pydantic models only (the pydantic data converter carries them through Temporal);
protobuf never crosses into workflows. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from workflows.base.model import Frozen
from workflows.pipeline.matrix import MatrixAxis


class StageStatus(StrEnum):
    """Mirrors the wire enum StageStatus; the gateway maps one onto the other by name."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    RETRYING = "RETRYING"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {StageStatus.COMPLETED, StageStatus.FAILED, StageStatus.CANCELLED, StageStatus.SKIPPED}
)


class RetrySpec(Frozen):
    """max_attempts counts every run, the first included; 0 and 1 both mean no retry."""

    max_attempts: int = 1
    retry_delay_seconds: int = 0
    retryable_failures: tuple[str, ...] = ()


class StageSpec(Frozen):
    stage_id: str
    type: str = "custom"
    name: str = ""
    worker_count: int = 1
    depends_on: tuple[str, ...] = ()
    config: dict[str, str] = Field(default_factory=dict)
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    timeout_seconds: int = 0
    retry: RetrySpec = RetrySpec()
    # A CEL condition over the pipeline and this stage's dependencies (conditions.py).
    when: str = ""
    # Runs after every other stage has ended, whatever the outcome (cleanup.py).
    cleanup: bool = False
    # One shard per combination of the axes' values (matrix.py); worker_count is their product.
    matrix: tuple[MatrixAxis, ...] = ()
    # Names only: the values stay in the run's secret store (workflows/pipeline/secrets.py).
    secret_names: tuple[str, ...] = ()
    # The gateway's signature over the workers this stage makes (workflows/workers/signed.py).
    signature: str = ""

    @property
    def attempts_allowed(self) -> int:
        return max(1, self.retry.max_attempts)


class PipelineSpec(Frozen):
    pipeline_id: str
    name: str = ""
    stages: tuple[StageSpec, ...]
    repository: str = ""
    commit_sha: str = ""
    triggered_by: str = ""
    metadata: dict[str, str] = Field(default_factory=dict)
    # The whole run's deadline (0 = none): a durable timer in the workflow.
    timeout_seconds: int = 0
    # The run's secret store and the pipeline's secret names; never a value.
    secret_store: str = ""
    secret_names: tuple[str, ...] = ()


class StageMetrics(Frozen):
    duration_seconds: int = 0
    successful_workers: int = 0
    failed_workers: int = 0
    total_workers: int = 0


class StageState(Frozen):
    """The latest known state of one stage, as the progress query reports it."""

    stage_id: str
    status: StageStatus = StageStatus.PENDING
    message: str = ""
    attempt: int = 0
    max_attempts: int = 1
    worker_pod_names: tuple[str, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str = ""
    metrics: StageMetrics = StageMetrics()
    # A completed stage's outputs (its shards' merged, outputs.py), or an approval's
    # approver and comment (approval.py).
    outputs: dict[str, str] = Field(default_factory=dict)


class ProgressEvent(Frozen):
    """One transition, pipeline-level when stage_id is empty. version counts from 1."""

    version: int
    timestamp: datetime
    stage_id: str = ""
    status: StageStatus
    message: str = ""
    worker_pod_names: tuple[str, ...] = ()
    progress_percentage: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str = ""
    metrics: StageMetrics | None = None
    outputs: dict[str, str] = Field(default_factory=dict)


class PipelineSnapshot(Frozen):
    """The full state of a pipeline run: what GetPipeline answers."""

    pipeline_id: str
    status: StageStatus
    stages: tuple[StageState, ...]
    progress_percentage: int
    version: int
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str = ""


class ProgressPage(Frozen):
    """The answer to the progress query: every event after the caller's version, in order."""

    snapshot: PipelineSnapshot
    events: tuple[ProgressEvent, ...]
