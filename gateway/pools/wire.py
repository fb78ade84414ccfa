"""proto ⇄ pool models: ScaleRequest in, ScaleResponse, WorkerPodStatus and notices out."""

from __future__ import annotations

import shlex

from gateway.settings import RuntimeKind, Settings
from gateway.timestamps import rfc3339
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.pool.models import ScaleResult, ScaleUpRequest, WorkerNotice
from workflows.workers.spec import Labels, WorkerInfo, WorkerPhase

# The local runtime has no image to take a command from; this one runs and exits.
DEFAULT_LOCAL_AGENT_COMMAND = (
    "sh -c 'echo otto agent $OTTO_TASK_ID/$OTTO_WORKER_INDEX; sleep ${OTTO_AGENT_SECONDS:-5}'"
)
REQUEST_ID = "request_id"
# WorkerPodStatus.status spells Kubernetes pod phases, as the old service did.
_PHASE_NAMES = {phase: phase.value.capitalize() for phase in WorkerPhase}


def agent_command(settings: Settings) -> tuple[str, ...]:
    """OTTO_AGENT_COMMAND as words; unset, the image's own (or the local default)."""
    text = settings.otto_agent_command
    if not text and settings.ottoscaler_runtime is RuntimeKind.LOCAL:
        text = DEFAULT_LOCAL_AGENT_COMMAND
    try:
        return tuple(shlex.split(text))
    except ValueError as err:
        raise ValueError(f"OTTO_AGENT_COMMAND: {err}: {text!r}") from err


def scale_up_from_wire(
    request: pb.ScaleRequest, image: str, command: tuple[str, ...]
) -> ScaleUpRequest:
    return ScaleUpRequest(
        task_id=request.task_id,
        worker_count=request.worker_count,
        repository=request.repository,
        commit_sha=request.commit_sha,
        build_config=dict(request.build_config),
        triggered_by=request.triggered_by,
        reason=request.reason,
        request_id=request.metadata.get(REQUEST_ID, ""),
        image=image,
        command=command,
    )


def scale_result_to_wire(result: ScaleResult) -> pb.ScaleResponse:
    return pb.ScaleResponse(
        status=pb.ScaleResponse.Status.Value(result.status.value),
        message=result.message,
        processed_count=len(result.worker_names),
        worker_pod_names=list(result.worker_names),
        started_at=rfc3339(result.started_at),
        completed_at=rfc3339(result.completed_at),
    )


def phase_name(phase: WorkerPhase) -> str:
    return _PHASE_NAMES[phase]


def worker_to_wire(info: WorkerInfo) -> pb.WorkerPodStatus:
    return pb.WorkerPodStatus(
        pod_name=info.name,
        task_id=info.labels.get(Labels.TASK_ID, ""),
        status=phase_name(info.phase),
        created_at=rfc3339(info.created_at),
        started_at=rfc3339(info.started_at),
        completed_at=rfc3339(info.completed_at),
        node_name=info.node_name,
        pod_ip=info.pod_ip,
        labels=info.labels,
        error_message=info.error_message,
    )


def notice_to_wire(notice: WorkerNotice) -> pb.WorkerStatusNotification:
    return pb.WorkerStatusNotification(
        worker_id=notice.worker_id,
        task_id=notice.task_id,
        status=pb.WorkerStatusNotification.StatusType.Value(notice.status.value),
        timestamp=rfc3339(notice.timestamp),
        reason=notice.reason,
        metadata=notice.metadata,
    )
