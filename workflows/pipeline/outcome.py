"""How a pipeline or a child stage that did not succeed ends its workflow: failed.

Temporal shows every workflow that returns as Completed, whatever its result says. A
failed pipeline (or a failed stage in a StageWorkflow child) therefore raises a
non-retryable ApplicationError: the Web UI, `temporal workflow list` and the
`ExecutionStatus = 'Failed'` filter say what happened. The failure carries what a
successful run returns (its first detail), so the gateway's streams, GetPipeline and
RetryPipeline read a failed run as they read a completed one.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.pipeline.inputs import StageResult
from workflows.pipeline.models import ProgressPage

PIPELINE_FAILED = "PipelineFailed"
STAGE_FAILED = "StageFailed"

# Runs that failed before this release completed instead; their histories replay (for a
# query, or `ottoscaler replay`) only when the new ending is behind a patch. Asked only
# by a run that failed, so a successful run records no marker.
FAILED_RUNS_FAIL = "failed-runs-fail"

Result = TypeVar("Result", bound=BaseModel)


def fails_when_failed() -> bool:
    """Whether this run ends failed when it failed (false when replaying an older one)."""
    return workflow.patched(FAILED_RUNS_FAIL)


def pipeline_failed(message: str, page: ProgressPage, stage_table: str) -> ApplicationError:
    """message: the pipeline's final one ("pipeline failed: 1/3 stages completed")."""
    return ApplicationError(
        f"{message}; first error: {page.snapshot.error_message}\n\n{stage_table}",
        page,
        type=PIPELINE_FAILED,
        non_retryable=True,
    )


def stage_failed(stage_id: str, result: StageResult) -> ApplicationError:
    return ApplicationError(
        f"stage {stage_id} failed: {result.error_message}",
        result,
        type=STAGE_FAILED,
        non_retryable=True,
    )


def carried(cause: BaseException | None, kind: str, model: type[Result]) -> Result | None:
    """The result a failure of `kind` carries; None for any other failure."""
    if not isinstance(cause, ApplicationError) or cause.type != kind or not cause.details:
        return None
    return model.model_validate(cause.details[0])
