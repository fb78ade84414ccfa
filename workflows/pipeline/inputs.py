"""Inputs and results of the workflows, and the signal a child stage sends its pipeline."""

from __future__ import annotations

from pydantic import Field

from workflows.base.checks import Limits
from workflows.base.model import Frozen
from workflows.pipeline.models import PipelineSpec, StageMetrics, StageSpec, StageStatus
from workflows.workers.spec import SecretRefs


class PipelineInput(Frozen):
    spec: PipelineSpec
    # The gateway's limits, for the workflow's early errors only: anyone can start a
    # workflow with any input, so the activities hold to their own (activities/admission.py).
    limits: Limits = Limits()
    # Stages the previous run completed (RetryPipeline): reported COMPLETED, not run again.
    reuse_completed: tuple[str, ...] = ()
    # Their outputs in that run: downstream stages and conditions see them as if they ran.
    reused_outputs: dict[str, dict[str, str]] = Field(default_factory=dict)


class StageInput(Frozen):
    pipeline_id: str
    repository: str
    commit_sha: str
    # The pipeline run that owns the stage's workers (names and the run label derive from it).
    run: str
    stage: StageSpec
    secrets: SecretRefs | None = None
    # A cleanup stage's view of the pipeline's outcome (OTTO_PIPELINE_STATUS); "" otherwise.
    pipeline_status: str = ""
    # OTTO_OUTPUT_* of the stages upstream of this one (outputs.py).
    outputs_env: dict[str, str] = Field(default_factory=dict)


class StageReport(Frozen):
    """Sent by a child stage to its pipeline when an attempt starts (RUNNING, with its
    workers) or a retry is scheduled (RETRYING, with the error)."""

    stage_id: str
    status: StageStatus
    attempt: int
    worker_pod_names: tuple[str, ...]
    error_message: str = ""


class StageResult(Frozen):
    status: StageStatus
    attempt: int
    worker_pod_names: tuple[str, ...]
    message: str
    error_message: str = ""
    metrics: StageMetrics = StageMetrics()
    outputs: dict[str, str] = Field(default_factory=dict)
