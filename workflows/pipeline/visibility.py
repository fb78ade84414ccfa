"""What the Temporal Web UI shows of a pipeline: search attributes and current details.

Search attributes exist only where the namespace registered them (`ottoscaler up` does;
on a real cluster see docs/deploy.md). The gateway sets them when it starts a pipeline,
OttoStatus RUNNING, and the workflow upserts OttoStatus once more when the pipeline ends
(an upsert is a billed action, so never per stage), only where they were set: an
unregistered namespace costs visibility, never a pipeline.
"""

from __future__ import annotations

from collections.abc import Iterable

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from workflows.pipeline.models import PipelineSpec, StageState, StageStatus

PIPELINE_ID = SearchAttributeKey.for_keyword("OttoPipelineId")
REPOSITORY = SearchAttributeKey.for_keyword("OttoRepository")
COMMIT_SHA = SearchAttributeKey.for_keyword("OttoCommitSha")
TRIGGERED_BY = SearchAttributeKey.for_keyword("OttoTriggeredBy")
STATUS = SearchAttributeKey.for_keyword("OttoStatus")
ALL = (PIPELINE_ID, REPOSITORY, COMMIT_SHA, TRIGGERED_BY, STATUS)


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


def stage_table(stages: Iterable[StageState]) -> str:
    """The Web UI's "current details": one markdown row per stage."""
    rows = [
        "| stage | status | attempt | workers | message |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in stages:
        attempt = f"{s.attempt}/{s.max_attempts}" if s.attempt else "-"
        workers = f"{s.metrics.successful_workers}/{len(s.worker_pod_names)}"
        message = (s.error_message or s.message).replace("|", "/")
        rows.append(f"| {s.stage_id} | {s.status.value} | {attempt} | {workers} | {message} |")
    return "\n".join(rows)
