"""Approval stages: a stage of type `approval` runs no worker; it waits for an answer.

The answer arrives as the pipeline workflow's `approve_stage` Update: the gateway's
ApproveStage, or `temporal workflow update execute --name approve_stage` from the CLI.
Its validator refuses what cannot be accepted (no such stage, not an approval stage, not
waiting, answered already, a bad answer) before anything is written to the history. The
wait is one wait_condition, woken by the Update: nothing polls; with timeout_seconds one
durable timer bounds it. Approved, the stage completes with the approver and comment as
its outputs; rejected or timed out, it fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.base.checks import SpecError, check_label_value, check_short_text
from workflows.base.model import Frozen
from workflows.pipeline.inputs import StageResult
from workflows.pipeline.models import StageSpec, StageStatus

APPROVAL_TYPE = "approval"
APPROVE_UPDATE = "approve_stage"
WAITING = "waiting for approval"
# Before approval stages, a stage typed "approval" ran workers like any other; runs that
# started then replay so. Asked only for such a stage: other runs record no marker.
APPROVAL_STAGES_PATCH = "approval-stages"
MAX_APPROVER_CHARS = 256
MAX_COMMENT_CHARS = 1024
# An answer in the snapshot's outputs: its texts at 4 bytes a character (UTF-8), and keys.
ANSWER_BYTES = 4 * (MAX_APPROVER_CHARS + MAX_COMMENT_CHARS) + 64
# The Update's refusals, by ApplicationError type (the gateway maps them to status codes).
UNKNOWN_STAGE = "UnknownStage"
NOT_WAITING = "NotWaiting"
BAD_ANSWER = "BadAnswer"


class ApprovalAnswer(Frozen):
    """The `approve_stage` Update's input."""

    stage_id: str
    approved: bool
    approver: str
    comment: str = ""


class ApprovalReceipt(Frozen):
    message: str


def is_approval(stage: StageSpec) -> bool:
    return stage.type == APPROVAL_TYPE


def check_approval_stage(field: str, stage: StageSpec) -> None:
    """An approval stage runs no worker: fields that describe one are refused, not ignored."""
    for name, value in (("image", stage.image), ("command", stage.command), ("args", stage.args)):
        if value:
            raise SpecError(f"{field}.{name}", "an approval stage runs no worker; leave it empty")
    # Checked before worker_count, which a matrix makes the product of its axes.
    if stage.matrix:
        raise SpecError(f"{field}.matrix", "an approval stage runs no worker; leave it empty")
    if stage.worker_count != 1:
        raise SpecError(
            f"{field}.worker_count", f"{stage.worker_count}: an approval stage runs no worker"
        )
    if stage.cleanup:
        raise SpecError(f"{field}.cleanup", "an approval stage cannot be a cleanup stage")


def answers_bytes(stages: Iterable[StageSpec]) -> int:
    """What the approval stages' answers may add to the pipeline's snapshot."""
    return ANSWER_BYTES * sum(1 for s in stages if is_approval(s))


def check_answer(answer: ApprovalAnswer) -> None:
    """Raises SpecError naming the field: what the gateway and the validator both refuse."""
    check_label_value("stage_id", answer.stage_id)
    if not answer.approver:
        raise SpecError("approver", "is required: who answers the approval")
    check_short_text("approver", answer.approver, MAX_APPROVER_CHARS)
    check_short_text("comment", answer.comment, MAX_COMMENT_CHARS)


def waiting_message(stage: StageSpec) -> str:
    bound = f" (at most {stage.timeout_seconds}s)" if stage.timeout_seconds else ""
    return f"{WAITING}{bound}: answer with ApproveStage"


def _refused(kind: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class ApprovalDesk:
    """The answers of one pipeline's approval stages, and which of them wait."""

    def __init__(self, stages: dict[str, StageSpec]) -> None:
        self._stages = stages
        self._waiting: set[str] = set()
        self._answers: dict[str, ApprovalAnswer] = {}

    def check(self, answer: ApprovalAnswer, status: StageStatus | None) -> None:
        """The Update's validator: raising refuses the answer, and writes no history."""
        try:
            check_answer(answer)
        except SpecError as err:
            raise _refused(BAD_ANSWER, str(err)) from err
        stage_id = answer.stage_id
        stage = self._stages.get(stage_id)
        if stage is None or status is None:
            raise _refused(UNKNOWN_STAGE, f"stage_id: the pipeline has no stage {stage_id!r}")
        if not is_approval(stage):
            raise _refused(
                NOT_WAITING, f"stage_id: stage {stage_id!r} is a {stage.type} stage, no approval"
            )
        earlier = self._answers.get(stage_id)
        if earlier is not None:
            raise _refused(
                NOT_WAITING,
                f"stage_id: stage {stage_id!r} was already {_verdict(earlier)} by "
                f"{earlier.approver!r}",
            )
        if stage_id not in self._waiting:
            raise _refused(
                NOT_WAITING,
                f"stage_id: stage {stage_id!r} is not waiting for approval (it is {status.value})",
            )

    def answer(self, answer: ApprovalAnswer) -> ApprovalReceipt:
        self._answers[answer.stage_id] = answer
        return ApprovalReceipt(
            message=f"stage {answer.stage_id} {_verdict(answer)} by {answer.approver}"
        )

    async def wait(self, stage: StageSpec) -> StageResult:
        """Until the stage's answer, its timeout, or a cancel (CancelledError)."""
        stage_id = stage.stage_id
        seconds = stage.timeout_seconds
        self._waiting.add(stage_id)
        try:
            await workflow.wait_condition(
                lambda: stage_id in self._answers,
                timeout=timedelta(seconds=seconds) if seconds else None,
                timeout_summary=f"{stage_id} · approval wait · {seconds}s" if seconds else None,
            )
        except TimeoutError:
            return _result(
                StageStatus.FAILED,
                "approval timed out",
                f"approval timed out: no answer within {seconds}s",
            )
        finally:
            self._waiting.discard(stage_id)
        answer = self._answers[stage_id]
        verdict = f"{_verdict(answer)} by {answer.approver}"
        if answer.approved:
            outputs = {"approver": answer.approver, "comment": answer.comment}
            return _result(StageStatus.COMPLETED, verdict, "", outputs)
        because = f": {answer.comment}" if answer.comment else ""
        return _result(StageStatus.FAILED, verdict, verdict + because)


def _verdict(answer: ApprovalAnswer) -> str:
    return "approved" if answer.approved else "rejected"


def _result(
    status: StageStatus, message: str, error: str, outputs: dict[str, str] | None = None
) -> StageResult:
    return StageResult(
        status=status,
        attempt=0,
        worker_pod_names=(),
        message=message,
        error_message=error,
        outputs=outputs or {},
    )
