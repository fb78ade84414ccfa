"""What the Temporal Web UI shows of a pipeline: search attributes and current details.

Search attributes exist only where the namespace registered them (`ottoscaler up` does;
on a real cluster see docs/deploy.md). The gateway sets them when it starts a pipeline,
OttoStatus RUNNING, and the workflow upserts OttoStatus once more when the pipeline ends
(an upsert is a billed action, so never per stage), only where they were set: an
unregistered namespace costs visibility, never a pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.base.sizes import clip
from workflows.pipeline.matrix import MatrixAxis, describe_axes
from workflows.pipeline.models import PipelineSpec, StageState, StageStatus

PIPELINE_ID = SearchAttributeKey.for_keyword("OttoPipelineId")
REPOSITORY = SearchAttributeKey.for_keyword("OttoRepository")
COMMIT_SHA = SearchAttributeKey.for_keyword("OttoCommitSha")
TRIGGERED_BY = SearchAttributeKey.for_keyword("OttoTriggeredBy")
STATUS = SearchAttributeKey.for_keyword("OttoStatus")
ALL = (PIPELINE_ID, REPOSITORY, COMMIT_SHA, TRIGGERED_BY, STATUS)
# A row's message, at most: the Web UI reads the table through a query, one payload.
TABLE_MESSAGE_CHARS = 200


def initial_attributes(spec: PipelineSpec) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(PIPELINE_ID, spec.pipeline_id),
            SearchAttributePair(REPOSITORY, spec.repository),
            SearchAttributePair(COMMIT_SHA, spec.commit_sha),
            SearchAttributePair(TRIGGERED_BY, spec.triggered_by),
            SearchAttributePair(STATUS, StageStatus.RUNNING.value),
        ]
    )


def publish_status(status: StageStatus) -> None:
    """Keeps OttoStatus current, where the pipeline was started with search attributes."""
    if workflow.info().typed_search_attributes.get(STATUS) is not None:
        workflow.upsert_search_attributes([STATUS.value_set(status.value)])


def stage_table(
    stages: Iterable[StageState], matrices: Mapping[str, Sequence[MatrixAxis]] | None = None
) -> str:
    """The Web UI's "current details" (User Metadata): one list item per stage. The UI
    renders markdown without tables (a table's cells ran together: `COMPLETED2/3`), and a
    list also reads well where a failure's message is shown as plain text. A matrix
    stage's line names its axes; each shard's activity summary has its combination."""
    matrices = matrices or {}
    return "\n".join(_stage_line(s, matrices.get(s.stage_id, ())) for s in stages)


def _stage_line(s: StageState, matrix: Sequence[MatrixAxis]) -> str:
    parts = [s.status.value]
    if matrix:
        parts.append(describe_axes(matrix))
    if s.attempt:
        parts.append(f"attempt {s.attempt}/{s.max_attempts}")
    if s.worker_pod_names:
        parts.append(f"{s.metrics.successful_workers}/{len(s.worker_pod_names)} workers succeeded")
    message = clip(s.error_message or s.message, TABLE_MESSAGE_CHARS)
    if message:
        parts.append(message)
    return f"- {s.stage_id}: " + " · ".join(parts)
