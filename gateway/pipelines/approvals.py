"""ApproveStage: an answer for a waiting approval stage, as the pipeline's Update.

The workflow's validator decides what it can accept (workflows/pipeline/approval.py);
its refusals become status codes here: no such stage NOT_FOUND, a bad answer
INVALID_ARGUMENT, anything else (not an approval stage, not waiting, answered already)
FAILED_PRECONDITION. A pipeline that has ended answers nothing: FAILED_PRECONDITION.
"""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from gateway.errors import FailedPrecondition, GatewayError, InvalidArgument, NotFound
from gateway.pipelines.stream import PipelineHandle
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.base.checks import check_label_value
from workflows.pipeline.approval import BAD_ANSWER, UNKNOWN_STAGE, ApprovalAnswer, check_answer
from workflows.pipeline.workflow import PipelineWorkflow

_REFUSALS: dict[str | None, type[GatewayError]] = {
    UNKNOWN_STAGE: NotFound,
    BAD_ANSWER: InvalidArgument,
}


def answer_from_wire(request: pb.ApproveStageRequest) -> ApprovalAnswer:
    """The request's answer, or SpecError naming the field (INVALID_ARGUMENT)."""
    check_label_value("pipeline_id", request.pipeline_id)
    answer = ApprovalAnswer(
        stage_id=request.stage_id,
        approved=request.approved,
        approver=request.approver,
        comment=request.comment,
    )
    check_answer(answer)
    return answer


async def approve_stage(
    handle: PipelineHandle,
    status: WorkflowExecutionStatus | None,
    pipeline_id: str,
    answer: ApprovalAnswer,
) -> pb.ApproveStageResponse:
    """status: the run's, as described when the handle was taken."""
    if status is not WorkflowExecutionStatus.RUNNING:
        state = status.name.lower() if status else "closed"
        raise FailedPrecondition(f"pipeline_id: pipeline {pipeline_id} has ended ({state})")
    try:
        receipt = await handle.execute_update(PipelineWorkflow.approve_stage, answer)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        # It ended since it was described.
        raise FailedPrecondition(f"pipeline_id: pipeline {pipeline_id} has ended") from err
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if not isinstance(cause, ApplicationError):
            raise
        raise _REFUSALS.get(cause.type, FailedPrecondition)(cause.message) from err
    return pb.ApproveStageResponse(accepted=True, message=receipt.message)
