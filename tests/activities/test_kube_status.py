"""What a pod's status means for its worker (activities/runtimes/kube_status), on plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.runtimes.kubernetes.bodies import (
    ContainerState,
    ObjectMeta,
    Pod,
    PodCondition,
    PodStatus,
)
from activities.runtimes.kubernetes.status import (
    PendingLimits,
    decide,
    early_failure,
    seconds_to_next_check,
    terminal_outcome,
    worker_info,
    worker_phase,
)
from workflows.workers.spec import WorkerPhase

NOW = datetime(2025, 9, 1, 12, 0, 0, tzinfo=UTC)
LIMITS = PendingLimits(pending_timeout=300, pull_grace=30)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    phase: str = "Pending",
    *,
    state: ContainerState | None = None,
    age: float = 1,
    reason: str = "",
    conditions: list[PodCondition] | None = None,
    deleting: bool = False,
) -> Pod:
    status: PodStatus = {"phase": phase, "conditions": conditions or []}
    if state is not None:
        status["containerStatuses"] = [{"state": state}]
    if reason:
        status.update({"reason": reason, "message": f"{reason} happened"})
    metadata: ObjectMeta = {"name": "w", "creationTimestamp": stamp(age)}
    if deleting:
        metadata["deletionTimestamp"] = stamp(0)
    return {"metadata": metadata, "spec": {}, "status": status}


def waiting(reason: str) -> ContainerState:
    return {"waiting": {"reason": reason, "message": f"{reason} details"}}


def terminated(exit_code: int, reason: str) -> ContainerState:
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": stamp(10),
            "finishedAt": stamp(1),
        }
    }


UNSCHEDULABLE: list[PodCondition] = [
    {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available",
    }
]


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        ("Pending", WorkerPhase.PENDING),
        ("Running", WorkerPhase.RUNNING),
        ("Succeeded", WorkerPhase.SUCCEEDED),
        ("Failed", WorkerPhase.FAILED),
        ("Unknown", WorkerPhase.RUNNING),
    ],
)
def test_phase(phase: str, expected: WorkerPhase) -> None:
    assert worker_phase(pod(phase)) is expected


@pytest.mark.parametrize(
    ("the_pod", "succeeded", "reason", "exit_code"),
    [
        (pod("Succeeded", state=terminated(0, "Completed")), True, "", 0),
        (pod("Failed", state=terminated(2, "Error")), False, "Error", 2),
        (pod("Failed", state=terminated(137, "OOMKilled")), False, "OOMKilled", 137),
        (pod("Failed", state=terminated(137, "Error"), reason="Evicted"), False, "Evicted", 137),
        (
            pod("Failed", state=terminated(137, "Error"), reason="DeadlineExceeded"),
            False,
            "DeadlineExceeded",
            137,
        ),
        (pod("Failed", reason="UnexpectedAdmissionError"), False, "UnexpectedAdmissionError", None),
        (pod("Failed"), False, "Error", None),
    ],
    ids=["success", "exit", "oom", "evicted", "deadline", "admission", "bare-failed"],
)
def test_terminal_outcome(
    the_pod: Pod, succeeded: bool, reason: str, exit_code: int | None
) -> None:
    outcome = terminal_outcome(the_pod)

    assert outcome is not None
    assert (outcome.succeeded, outcome.reason, outcome.exit_code) == (succeeded, reason, exit_code)


@pytest.mark.parametrize("phase", ["Pending", "Running", "Unknown"])
def test_no_outcome_before_the_end(phase: str) -> None:
    assert terminal_outcome(pod(phase, state={"running": {}})) is None


def test_an_outcome_carries_the_container_times() -> None:
    outcome = terminal_outcome(pod("Failed", state=terminated(1, "Error")))

    assert outcome is not None
    assert outcome.started_at == NOW - timedelta(seconds=10)
    assert outcome.finished_at == NOW - timedelta(seconds=1)
    assert outcome.failure_text == "Error (exit 1)"


@pytest.mark.parametrize(
    ("the_pod", "pull_since", "reason"),
    [
        (pod(state=waiting("ImagePullBackOff")), None, "ImagePullBackOff"),
        (pod(state=waiting("InvalidImageName")), None, "InvalidImageName"),
        (pod(state=waiting("CreateContainerConfigError")), None, "CreateContainerConfigError"),
        (pod(state=waiting("CreateContainerError")), None, "CreateContainerError"),
        (pod(state=waiting("ErrImagePull")), NOW - timedelta(seconds=31), "ErrImagePull"),
        (pod(state=waiting("ErrImagePull")), NOW - timedelta(seconds=29), None),
        (pod(state=waiting("ErrImagePull")), None, None),
        (pod(state=waiting("ContainerCreating")), None, None),
        (pod(conditions=UNSCHEDULABLE, age=299), None, None),
        (pod(conditions=UNSCHEDULABLE, age=301), None, "Unschedulable"),
        (pod(state=waiting("ContainerCreating"), age=301), None, "PendingTimeout"),
        (pod("Running", state={"running": {}}, age=3000), None, None),
    ],
    ids=[
        "backoff",
        "invalid-name",
        "config-error",
        "create-error",
        "pull-past-grace",
        "pull-within-grace",
        "pull-just-seen",
        "creating",
        "unschedulable-within-deadline",
        "unschedulable-past-deadline",
        "stuck-past-deadline",
        "running",
    ],
)
def test_early_failure(the_pod: Pod, pull_since: datetime | None, reason: str | None) -> None:
    outcome = early_failure(the_pod, now=NOW, limits=LIMITS, pull_failing_since=pull_since)

    assert (outcome.reason if outcome else None) == reason
    assert outcome is None or not outcome.succeeded


def test_an_unschedulable_failure_quotes_the_scheduler() -> None:
    outcome = early_failure(
        pod(conditions=UNSCHEDULABLE, age=301), now=NOW, limits=LIMITS, pull_failing_since=None
    )

    assert outcome is not None
    assert outcome.message == "0/3 nodes are available"


def test_no_pending_deadline_when_the_timeout_is_zero() -> None:
    limits = PendingLimits(pending_timeout=0, pull_grace=30)
    stuck = pod(conditions=UNSCHEDULABLE, age=10**6)

    assert early_failure(stuck, now=NOW, limits=limits, pull_failing_since=None) is None
    assert seconds_to_next_check(stuck, now=NOW, limits=limits, pull_failing_since=None) is None


@pytest.mark.parametrize(
    ("the_pod", "reason"),
    [
        (pod("Running", state={"running": {}}, deleting=True), "PodDeleted"),
        (pod("Pending", deleting=True), "PodDeleted"),
        (pod("Failed", state=terminated(3, "Error"), deleting=True), "Error"),
        (pod("Running", state={"running": {}}), None),
    ],
    ids=["running", "pending", "already-failed", "not-deleting"],
)
def test_a_pod_being_deleted_before_its_end_is_a_failure(the_pod: Pod, reason: str | None) -> None:
    outcome = decide(the_pod, now=NOW, limits=LIMITS, pull_failing_since=None)

    assert (outcome.reason if outcome else None) == reason


@pytest.mark.parametrize(
    ("the_pod", "pull_since", "expected"),
    [
        (pod(age=100), None, 200.0),
        (pod(age=100), NOW - timedelta(seconds=20), 10.0),
        (pod(age=400), None, 0.0),
        (pod("Running", age=100), None, None),
    ],
    ids=["pending-deadline", "pull-grace-first", "overdue", "running"],
)
def test_seconds_to_next_check(
    the_pod: Pod, pull_since: datetime | None, expected: float | None
) -> None:
    assert (
        seconds_to_next_check(the_pod, now=NOW, limits=LIMITS, pull_failing_since=pull_since)
        == expected
    )


@pytest.mark.parametrize(
    ("the_pod", "error"),
    [
        (pod("Running", state={"running": {}}), ""),
        (pod(state=waiting("ContainerCreating")), ""),
        (pod(state=waiting("ImagePullBackOff")), "ImagePullBackOff: ImagePullBackOff details"),
        (pod(conditions=UNSCHEDULABLE), "Unschedulable: 0/3 nodes are available"),
        (pod("Failed", state=terminated(137, "OOMKilled")), "OOMKilled (exit 137)"),
    ],
    ids=["running", "creating", "backoff", "unschedulable", "oom"],
)
def test_worker_info_explains_what_is_wrong(the_pod: Pod, error: str) -> None:
    assert worker_info(the_pod).error_message == error


def test_worker_info_reports_node_ip_and_times() -> None:
    running = pod("Running", state={"running": {}})
    running["spec"]["nodeName"] = "node-a"
    running["status"].update({"podIP": "10.0.0.7", "startTime": stamp(5)})
    running["metadata"]["labels"] = {"task-id": "t1"}

    info = worker_info(running)

    assert (info.name, info.phase, info.node_name, info.pod_ip) == (
        "w",
        WorkerPhase.RUNNING,
        "node-a",
        "10.0.0.7",
    )
    assert info.labels == {"task-id": "t1"}
    assert info.created_at == NOW - timedelta(seconds=1)
    assert info.started_at == NOW - timedelta(seconds=5)
    assert info.completed_at is None
