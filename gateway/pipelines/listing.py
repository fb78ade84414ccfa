"""ListPipelines: the pipeline runs on this Ottoscaler's task queue, from Temporal's visibility.

One summary per run, newest first. A run's status is its OttoStatus search attribute once
it has closed (a pipeline that failed may close its workflow as completed), else what its
workflow's own status says.
"""

from __future__ import annotations

import base64
import binascii

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from gateway.errors import InvalidArgument
from gateway.pipelines.wire import wire_status
from gateway.timestamps import rfc3339
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.pipeline import visibility
from workflows.pipeline.models import FINISHED, StageStatus
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_FROM_WORKFLOW_STATUS = {
    WorkflowExecutionStatus.RUNNING: pb.STAGE_RUNNING,
    WorkflowExecutionStatus.COMPLETED: pb.STAGE_COMPLETED,
    WorkflowExecutionStatus.FAILED: pb.STAGE_FAILED,
    WorkflowExecutionStatus.TERMINATED: pb.STAGE_FAILED,
    WorkflowExecutionStatus.TIMED_OUT: pb.STAGE_FAILED,
    WorkflowExecutionStatus.CANCELED: pb.STAGE_CANCELLED,
}
_FINISHED = {status.value for status in FINISHED}
# Workflow ids are the pipeline ids behind this prefix.
_ID_PREFIX = pipeline_workflow_id("")


def page_size(request: pb.ListPipelinesRequest) -> int:
    size = request.page_size or DEFAULT_PAGE_SIZE
    if not 0 < size <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"page_size: must be 0..{MAX_PAGE_SIZE}, got {request.page_size}")
    return size


def page_token(request: pb.ListPipelinesRequest) -> bytes | None:
    if not request.page_token:
        return None
    try:
        return base64.urlsafe_b64decode(request.page_token.encode())
    except (binascii.Error, ValueError) as err:
        raise InvalidArgument("page_token: not a next_page_token of a previous answer") from err


def run_status(execution: WorkflowExecution) -> pb.StageStatus.ValueType:
    published = execution.typed_search_attributes.get(visibility.STATUS)
    closed = execution.status is not WorkflowExecutionStatus.RUNNING
    if closed and published in _FINISHED:
        return wire_status(StageStatus(published))
    return _FROM_WORKFLOW_STATUS.get(
        execution.status or WorkflowExecutionStatus.RUNNING, pb.STAGE_PENDING
    )


def summary(execution: WorkflowExecution) -> pb.PipelineRunSummary:
    attributes = execution.typed_search_attributes
    return pb.PipelineRunSummary(
        pipeline_id=execution.id.removeprefix(_ID_PREFIX),
        run_id=execution.run_id,
        status=run_status(execution),
        started_at=rfc3339(execution.start_time),
        completed_at=rfc3339(execution.close_time),
        repository=attributes.get(visibility.REPOSITORY) or "",
        commit_sha=attributes.get(visibility.COMMIT_SHA) or "",
        triggered_by=attributes.get(visibility.TRIGGERED_BY) or "",
    )


async def list_pipelines(
    client: Client, task_queue: str, request: pb.ListPipelinesRequest
) -> pb.ListPipelinesResponse:
    size = page_size(request)
    runs = client.list_workflows(
        f"WorkflowType = '{PipelineWorkflow.__name__}' AND TaskQueue = '{task_queue}'",
        page_size=size,
        next_page_token=page_token(request),
    )
    try:
        await runs.fetch_next_page()
    except RPCError as err:
        if err.status is RPCStatusCode.INVALID_ARGUMENT:
            raise InvalidArgument(f"page_token: {err.message}") from err
        raise
    token = runs.next_page_token
    return pb.ListPipelinesResponse(
        pipelines=[summary(execution) for execution in runs.current_page or ()],
        next_page_token=base64.urlsafe_b64encode(token).decode() if token else "",
    )
