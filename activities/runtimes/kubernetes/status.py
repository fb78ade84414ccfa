"""What a pod's status means for its worker: pure functions over the pod's JSON (bodies).

The watch loop (wait) only moves data; every decision lives here so it can be
tested with plain dicts. Failure reasons follow docs/kubernetes.md:

- a Failed pod reports the pod's own reason (Evicted, DeadlineExceeded, ...) first, then
  OOMKilled from the container, else Error with the exit code;
- a Pending pod fails early on a waiting reason that cannot fix itself (FAIL_FAST), on
  ErrImagePull only once it persisted for a grace period (Tekton's rule: a registry
  hiccup is worth a second pull), and on Unschedulable or any other Pending state once
  the pending deadline has passed;
- a pod deleted before it ended is the failure PodDeleted, never a worker stuck Running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from activities.runtimes.kubernetes.bodies import (
    ContainerState,
    ContainerStateTerminated,
    ContainerStateWaiting,
    Pod,
    PodCondition,
    PodStatus,
)
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerPhase

FAIL_FAST_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
GRACE_REASONS = frozenset({"ErrImagePull"})
POD_DELETED = "PodDeleted"
PENDING_TIMEOUT = "PendingTimeout"
UNSCHEDULABLE = "Unschedulable"

# A pod condition (bodies.PodCondition) with these items: no node can take the pod.
_UNSCHEDULABLE_CONDITION: PodCondition = {
    "type": "PodScheduled",
    "status": "False",
    "reason": UNSCHEDULABLE,
}
_PHASES = {
    "Pending": WorkerPhase.PENDING,
    "Running": WorkerPhase.RUNNING,
    "Succeeded": WorkerPhase.SUCCEEDED,
    "Failed": WorkerPhase.FAILED,
}


@dataclass(frozen=True)
class PendingLimits:
    """How long a pod may stay Pending (0 = forever) and ErrImagePull may persist."""

    pending_timeout: float
    pull_grace: float


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def pod_name(pod: Pod) -> str:
    return pod.get("metadata", {}).get("name") or ""


def resource_version(pod: Pod) -> str | None:
    return pod.get("metadata", {}).get("resourceVersion") or None


def _created_at(pod: Pod) -> datetime | None:
    return parse_time(pod.get("metadata", {}).get("creationTimestamp"))


def _started_at(pod: Pod) -> datetime | None:
    return parse_time(pod.get("status", {}).get("startTime"))


def _node_name(pod: Pod) -> str:
    return pod.get("spec", {}).get("nodeName") or ""


def _pod_ip(pod: Pod) -> str:
    return pod.get("status", {}).get("podIP") or ""


def _container_states(pod: Pod) -> list[ContainerState]:
    statuses = pod.get("status", {}).get("containerStatuses") or ()
    return [status.get("state", {}) for status in statuses]


# The first container in that state; filter(None) also skips an empty state ({}).
def _first_waiting(pod: Pod) -> ContainerStateWaiting | None:
    states = _container_states(pod)
    return next(filter(None, (state.get("waiting") for state in states)), None)


def _first_terminated(pod: Pod) -> ContainerStateTerminated | None:
    states = _container_states(pod)
    return next(filter(None, (state.get("terminated") for state in states)), None)


def worker_phase(pod: Pod) -> WorkerPhase:
    # Unknown means the node stopped reporting: not an end, so it still counts as running.
    return _PHASES.get(pod.get("status", {}).get("phase") or "Pending", WorkerPhase.RUNNING)


def waiting_reason(pod: Pod) -> tuple[str, str] | None:
    """The first container's (reason, message) while it waits to start, if any."""
    waiting = _first_waiting(pod) or {}
    reason = waiting.get("reason")
    return (reason, waiting.get("message") or "") if reason else None


def unschedulable_message(pod: Pod) -> str | None:
    for condition in pod.get("status", {}).get("conditions") or ():
        if all(condition.get(key) == value for key, value in _UNSCHEDULABLE_CONDITION.items()):
            return condition.get("message") or ""
    return None


def terminal_outcome(pod: Pod) -> WorkerOutcome | None:
    """How the worker ended, or None while the pod has not reached Succeeded/Failed."""
    phase = worker_phase(pod)
    if phase not in (WorkerPhase.SUCCEEDED, WorkerPhase.FAILED):
        return None
    terminated = _first_terminated(pod) or {}
    started = parse_time(terminated.get("startedAt")) or _started_at(pod)
    times = {"started_at": started, "finished_at": parse_time(terminated.get("finishedAt"))}
    exit_code: int | None = terminated.get("exitCode")
    if phase is WorkerPhase.SUCCEEDED:
        return WorkerOutcome(name=pod_name(pod), succeeded=True, exit_code=exit_code, **times)
    reason, message = _failure_reason(pod.get("status", {}), terminated)
    return WorkerOutcome(
        name=pod_name(pod),
        succeeded=False,
        exit_code=exit_code,
        reason=reason,
        message=message,
        **times,
    )


def _failure_reason(status: PodStatus, terminated: ContainerStateTerminated) -> tuple[str, str]:
    """A Failed pod's (reason, message): its own, else OOMKilled, else Error (module doc)."""
    pod_reason = status.get("reason")
    if pod_reason:
        return pod_reason, status.get("message") or ""
    container_reason: str | None = terminated.get("reason")
    if container_reason == "OOMKilled":
        return container_reason, terminated.get("message") or ""
    return "Error", terminated.get("message") or status.get("message") or ""


def termination_message(pod: Pod) -> str:
    """What the ended container wrote to its terminationMessagePath: the worker's outputs."""
    return (_first_terminated(pod) or {}).get("message") or ""


def deleted_outcome(pod: Pod) -> WorkerOutcome:
    """The outcome of a pod that disappeared: its end if it had one, else PodDeleted."""
    return terminal_outcome(pod) or WorkerOutcome(
        name=pod_name(pod),
        succeeded=False,
        reason=POD_DELETED,
        message="the pod was deleted before it finished",
        started_at=_started_at(pod),
    )


def _failure(pod: Pod, reason: str, message: str) -> WorkerOutcome:
    return WorkerOutcome(name=pod_name(pod), succeeded=False, reason=reason, message=message)


def early_failure(
    pod: Pod, *, now: datetime, limits: PendingLimits, pull_failing_since: datetime | None
) -> WorkerOutcome | None:
    """Decides that a Pending pod will never run (Airflow's detect_pod_terminate_early_issues).

    pull_failing_since is when the caller first saw the current GRACE_REASONS reason.
    """
    if worker_phase(pod) is not WorkerPhase.PENDING:
        return None
    waiting = waiting_reason(pod)
    if waiting is not None:
        reason, message = waiting
        if reason in FAIL_FAST_REASONS:
            return _failure(pod, reason, message)
        if (
            reason in GRACE_REASONS
            and pull_failing_since is not None
            and (now - pull_failing_since).total_seconds() >= limits.pull_grace
        ):
            return _failure(pod, reason, message)
    created = _created_at(pod)
    if limits.pending_timeout <= 0 or created is None:
        return None
    if (now - created).total_seconds() < limits.pending_timeout:
        return None
    unschedulable = unschedulable_message(pod)
    if unschedulable is not None:
        return _failure(pod, UNSCHEDULABLE, unschedulable)
    detail = f" (waiting: {waiting[0]})" if waiting else ""
    return _failure(
        pod, PENDING_TIMEOUT, f"still Pending after {limits.pending_timeout:g}s{detail}"
    )


def decide(
    pod: Pod, *, now: datetime, limits: PendingLimits, pull_failing_since: datetime | None
) -> WorkerOutcome | None:
    """The worker's outcome if this state of its pod settles it, else None (keep waiting)."""
    outcome = terminal_outcome(pod)
    if outcome is not None:
        return outcome
    deletion_timestamp: str | None = pod.get("metadata", {}).get("deletionTimestamp")
    if deletion_timestamp:
        return deleted_outcome(pod)  # being deleted while it still ran
    return early_failure(pod, now=now, limits=limits, pull_failing_since=pull_failing_since)


def seconds_to_next_check(
    pod: Pod, *, now: datetime, limits: PendingLimits, pull_failing_since: datetime | None
) -> float | None:
    """When early_failure could change its answer without a new event; None = never."""
    if worker_phase(pod) is not WorkerPhase.PENDING:
        return None
    deadlines: list[float] = []
    created = _created_at(pod)
    if limits.pending_timeout > 0 and created is not None:
        deadlines.append(limits.pending_timeout - (now - created).total_seconds())
    if pull_failing_since is not None:
        deadlines.append(limits.pull_grace - (now - pull_failing_since).total_seconds())
    return max(0.0, min(deadlines)) if deadlines else None


def worker_info(pod: Pod) -> WorkerInfo:
    """The pod as GetWorkerStatus reports it."""
    outcome = terminal_outcome(pod)
    waiting = waiting_reason(pod)
    unschedulable = unschedulable_message(pod)
    if outcome is not None:
        error = outcome.failure_text
    elif waiting is not None and waiting[0] in FAIL_FAST_REASONS | GRACE_REASONS:
        error = ": ".join(part for part in waiting if part)
    elif unschedulable is not None:
        error = f"{UNSCHEDULABLE}: {unschedulable}"
    else:
        error = ""
    return WorkerInfo(
        name=pod_name(pod),
        phase=worker_phase(pod),
        labels=dict(pod.get("metadata", {}).get("labels") or {}),
        created_at=_created_at(pod),
        started_at=_started_at(pod),
        completed_at=outcome.finished_at if outcome else None,
        node_name=_node_name(pod),
        pod_ip=_pod_ip(pod),
        error_message=error,
    )
