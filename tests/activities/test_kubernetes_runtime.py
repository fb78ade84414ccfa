"""The kubernetes runtime, through the real `kubernetes` client, against the API emulator."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from kubernetes.client import CoreV1Api

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    TransientRuntimeError,
    WorkerNotFound,
)
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import DEFAULT_IMAGE, NAMESPACE, TEST_TUNING, KubeCluster
from workflows.workers.naming import stage_worker_name
from workflows.workers.spec import Labels, WorkerOutcome, WorkerPhase, WorkerSpec

RUN = "run-1"
PODS = rf"/namespaces/{NAMESPACE}/pods"


def spec(name: str = "w", run: str = RUN, /, **env: str | float | int) -> WorkerSpec:
    return WorkerSpec(
        name=name,
        labels={Labels.RUN_ID: run, Labels.TASK_ID: "task-1"},
        env={key: str(value) for key, value in env.items()},
    )


async def run(runtime: KubernetesRuntime, worker: WorkerSpec) -> WorkerOutcome:
    await runtime.create(worker)
    return await asyncio.wait_for(runtime.wait(worker), timeout=10)


def watches(emulator: KubeEmulator, name: str = "w") -> list[dict[str, str]]:
    return [
        r.query
        for r in emulator.requests
        if r.query.get("watch") == "true"
        and r.query.get("fieldSelector") == f"metadata.name={name}"
    ]


def lists(emulator: KubeEmulator, name: str = "w") -> int:
    return sum(
        1
        for r in emulator.requests
        if r.method == "GET" and "watch" not in r.query and "metadata.name=" + name in str(r.query)
    )


async def test_a_worker_that_exits_zero_succeeds(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    outcome = await run(kube_runtime, spec(FAKE_DURATION=0.1))

    assert outcome.succeeded
    assert outcome.exit_code == 0
    assert outcome.started_at is not None
    assert outcome.finished_at is not None
    [info] = await kube_runtime.list({Labels.TASK_ID: "task-1"})
    assert info.phase is WorkerPhase.SUCCEEDED
    assert info.node_name == "fake-node-1"
    assert info.pod_ip


@pytest.mark.parametrize(
    ("env", "reason", "exit_code"),
    [
        ({"FAKE_EXIT_CODE": 3}, "Error", 3),
        ({"FAKE_REASON": "OOMKilled"}, "OOMKilled", 137),
        ({"FAKE_REASON": "Evicted"}, "Evicted", 137),
    ],
    ids=["exit-code", "oom-killed", "evicted"],
)
async def test_a_failed_worker_reports_its_reason_verbatim(
    kube_runtime: KubernetesRuntime, env: dict[str, str | int], reason: str, exit_code: int
) -> None:
    outcome = await run(kube_runtime, spec(FAKE_DURATION=0.05, **env))

    assert not outcome.succeeded
    assert (outcome.reason, outcome.exit_code) == (reason, exit_code)


async def test_a_worker_past_its_timeout_fails_with_deadline_exceeded(
    kube_runtime: KubernetesRuntime,
) -> None:
    worker = spec(FAKE_DURATION=60).model_copy(update={"timeout_seconds": 1})

    outcome = await run(kube_runtime, worker)

    assert (outcome.succeeded, outcome.reason) == (False, "DeadlineExceeded")


@pytest.mark.parametrize(
    "reason", ["ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError"]
)
async def test_a_pod_that_cannot_start_fails_fast(
    kube_runtime: KubernetesRuntime, reason: str
) -> None:
    started = time.monotonic()

    outcome = await run(kube_runtime, spec(FAKE_WAITING_REASON=reason))

    assert (outcome.succeeded, outcome.reason) == (False, reason)
    assert "fake kubelet" in outcome.message
    # Long before the 300 s pending deadline, and without the ErrImagePull grace.
    assert time.monotonic() - started < TEST_TUNING.image_pull_grace_seconds + 5


async def test_err_image_pull_fails_only_after_the_grace_period(
    kube_runtime: KubernetesRuntime,
) -> None:
    started = time.monotonic()

    outcome = await run(kube_runtime, spec(FAKE_WAITING_REASON="ErrImagePull"))

    assert (outcome.succeeded, outcome.reason) == (False, "ErrImagePull")
    assert time.monotonic() - started >= TEST_TUNING.image_pull_grace_seconds


@pytest.mark.parametrize(
    ("env", "reason", "message"),
    [
        ({"FAKE_UNSCHEDULABLE": "1"}, "Unschedulable", "Insufficient cpu"),
        ({"FAKE_WAITING_REASON": "ContainerCreating"}, "PendingTimeout", "ContainerCreating"),
    ],
    ids=["unschedulable", "stuck-creating"],
)
async def test_a_pod_pending_past_its_deadline_fails(
    kube_cluster: KubeCluster,
    kube_runtime: KubernetesRuntime,
    env: dict[str, str],
    reason: str,
    message: str,
) -> None:
    # Creation times are whole seconds, so a 1 s deadline could pass before the fake
    # kubelet has marked the pod; 2 s leaves it at least a second.
    worker = spec(**env).model_copy(update={"pending_timeout_seconds": 2})

    outcome = await run(kube_runtime, worker)

    assert (outcome.succeeded, outcome.reason) == (False, reason)
    assert message in outcome.message
    assert kube_cluster.emulator.phase(NAMESPACE, "w") == "Pending"


async def test_a_pod_deleted_while_running_is_a_failure(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator, worker = kube_cluster.emulator, spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    waiting = asyncio.create_task(kube_runtime.wait(worker))
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    await emulator.until(lambda: emulator.open_watches == 1)

    emulator.delete_pod(NAMESPACE, "w")

    outcome = await asyncio.wait_for(waiting, timeout=5)
    assert (outcome.succeeded, outcome.reason) == (False, "PodDeleted")


async def test_a_dropped_watch_resumes_from_the_last_version(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator, worker = kube_cluster.emulator, spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    waiting = asyncio.create_task(kube_runtime.wait(worker))
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    await emulator.until(lambda: emulator.open_watches == 1)

    emulator.drop_watches()
    await emulator.until(lambda: len(watches(emulator)) == 2 and emulator.open_watches == 1)
    emulator.exit(NAMESPACE, "w", 0)

    outcome = await asyncio.wait_for(waiting, timeout=5)
    assert outcome.succeeded
    first, resumed = (int(w["resourceVersion"]) for w in watches(emulator)[:2])
    assert resumed >= first  # from the last version it saw, not from scratch
    assert lists(emulator) == 1  # resumed, not listed again


async def test_a_watch_too_old_to_resume_lists_again(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator, worker = kube_cluster.emulator, spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    waiting = asyncio.create_task(kube_runtime.wait(worker))
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    await emulator.until(lambda: emulator.open_watches == 1)

    emulator.compact()
    emulator.drop_watches()
    await emulator.until(lambda: lists(emulator) == 2 and emulator.open_watches == 1)
    emulator.exit(NAMESPACE, "w", 4)

    outcome = await asyncio.wait_for(waiting, timeout=5)
    assert (outcome.reason, outcome.exit_code) == ("Error", 4)


async def test_api_errors_during_a_wait_are_retried(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    emulator.fail_next("GET", r"watch=true", 500, times=2)
    emulator.fail_next("GET", r"fieldSelector", 429, retry_after=0)

    outcome = await run(kube_runtime, spec(FAKE_DURATION=0.2))

    assert outcome.succeeded
    assert emulator.pending_faults == 0


async def test_a_wait_gives_up_with_a_transient_error_when_the_api_stays_down(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    await kube_runtime.create(spec(FAKE_DURATION=60))
    kube_cluster.emulator.fail_next("GET", r"fieldSelector", 503, times=100)

    with pytest.raises(TransientRuntimeError, match="503"):
        await asyncio.wait_for(kube_runtime.wait(spec()), timeout=10)


@pytest.mark.parametrize(
    ("status", "retry_after", "message"),
    [(500, None, "error 500"), (503, None, "error 503"), (429, 2, "retry after 2s")],
)
async def test_a_create_refused_by_an_overloaded_api_is_transient(
    kube_cluster: KubeCluster,
    kube_runtime: KubernetesRuntime,
    status: int,
    retry_after: int | None,
    message: str,
) -> None:
    kube_cluster.emulator.fail_next("POST", PODS, status, retry_after=retry_after)

    with pytest.raises(TransientRuntimeError, match=message):
        await kube_runtime.create(spec())
    assert kube_cluster.emulator.pods(NAMESPACE) == []
    await kube_runtime.create(spec())  # what the activity's retry policy does next
    assert len(kube_cluster.emulator.pods(NAMESPACE)) == 1


async def test_an_unreachable_api_is_transient() -> None:
    with KubeEmulator() as emulator:
        api = emulator.api_client()
    runtime = KubernetesRuntime(NAMESPACE, DEFAULT_IMAGE, api, tuning=TEST_TUNING)
    try:
        with pytest.raises(TransientRuntimeError, match="cannot reach the Kubernetes API"):
            await runtime.create(spec())
    finally:
        await runtime.close()
        api.close()  # type: ignore[no-untyped-call]


async def test_creating_twice_adopts_the_pod_of_the_same_run(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    first = await kube_runtime.create(spec(FAKE_DURATION=60))

    again = await kube_runtime.create(spec(FAKE_DURATION=60))

    [pod] = kube_cluster.emulator.pods(NAMESPACE)
    assert again.name == first.name == pod["metadata"]["name"]
    assert again.labels[Labels.RUN_ID] == RUN


async def test_a_pod_of_another_run_is_never_adopted(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    await kube_runtime.create(spec("w", "old-run"))

    with pytest.raises(PermanentRuntimeError, match="belongs to run 'old-run', not 'run-1'"):
        await kube_runtime.create(spec("w", RUN))
    [pod] = kube_cluster.emulator.pods(NAMESPACE)
    assert pod["metadata"]["labels"][Labels.RUN_ID] == "old-run"


async def test_a_pod_that_vanishes_while_being_adopted_is_retried(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    await kube_runtime.create(spec())
    kube_cluster.emulator.fail_next("GET", rf"{PODS}/w$", 404)

    with pytest.raises(TransientRuntimeError, match="vanished"):
        await kube_runtime.create(spec())


@pytest.mark.parametrize(
    ("method", "verb", "operation"),
    [
        ("POST", "create", lambda rt: rt.create(spec())),
        ("DELETE", "delete", lambda rt: rt.delete("w")),
        ("GET", "list", lambda rt: rt.list({})),
    ],
    ids=["create", "delete", "list"],
)
async def test_rbac_forbidden_is_permanent_and_says_what_to_grant(
    kube_cluster: KubeCluster,
    kube_runtime: KubernetesRuntime,
    method: str,
    verb: str,
    operation: Any,
) -> None:
    kube_cluster.emulator.fail_next(method, PODS, 403)

    with pytest.raises(PermanentRuntimeError) as caught:
        await operation(kube_runtime)

    text = str(caught.value)
    assert f"may not {verb} pods in namespace '{NAMESPACE}'" in text
    assert "docs/kubernetes.md#rbac" in text
    assert "cannot" in text  # the API server's own words are kept


async def test_waiting_for_a_pod_that_never_existed_is_not_found(
    kube_runtime: KubernetesRuntime,
) -> None:
    with pytest.raises(WorkerNotFound, match="'ghost'"):
        await kube_runtime.wait(spec("ghost"))


async def test_delete_removes_the_pod_and_is_idempotent(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    await kube_runtime.create(spec(FAKE_DURATION=60))

    await kube_runtime.delete("w")
    await kube_runtime.delete("w")

    assert kube_cluster.emulator.pods(NAMESPACE) == []
    deletes = [r.query for r in kube_cluster.emulator.requests if r.method == "DELETE"]
    assert deletes[0]["gracePeriodSeconds"] == str(TEST_TUNING.delete_grace_seconds)


async def test_cancelling_a_wait_closes_its_watch(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    await kube_runtime.create(spec(FAKE_DURATION=60))
    waiting = asyncio.create_task(kube_runtime.wait(spec()))
    await emulator.until(lambda: emulator.open_watches == 1)

    waiting.cancel()

    await emulator.until(lambda: emulator.open_watches == 0)
    assert waiting.cancelled()


async def test_list_selects_workers_by_label(kube_runtime: KubernetesRuntime) -> None:
    long_task = "task/" + "x" * 80  # not a valid label value: stored sanitised and hashed
    for name, task in [("a-0", "task-a"), ("a-1", "task-a"), ("b-0", long_task)]:
        worker = spec(name, FAKE_DURATION=60)
        await kube_runtime.create(worker.model_copy(update={"labels": {Labels.TASK_ID: task}}))

    task_a = await kube_runtime.list({Labels.TASK_ID: "task-a"})
    task_b = await kube_runtime.list({Labels.TASK_ID: long_task})

    assert [w.name for w in task_a] == ["a-0", "a-1"]
    assert [w.name for w in task_b] == ["b-0"]


async def test_the_pod_carries_labels_env_limits_and_a_restricted_security_context(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    name = stage_worker_name("pipeline-" + "p" * 60, "build", 2, 1, "run-uuid")
    worker = WorkerSpec(
        name=name,
        labels={Labels.RUN_ID: RUN, Labels.PIPELINE_ID: "p1", Labels.STAGE_ID: "build"},
        env={"OTTO_STAGE_ID": "build", "GOFLAGS": "-mod=mod"},
        config={"ottoscaler.memory_limit": "2Gi"},
        timeout_seconds=600,
        summary="build · shard 3/3",
    )

    await kube_runtime.create(worker)

    pod = kube_cluster.emulator.pod(NAMESPACE, name)
    assert pod is not None
    assert len(name) <= 63
    assert pod["metadata"]["labels"] == {
        Labels.RUN_ID: RUN,
        Labels.PIPELINE_ID: "p1",
        Labels.STAGE_ID: "build",
        Labels.MANAGED_BY: "ottoscaler",
    }
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == 600
    [container] = pod["spec"]["containers"]
    assert container["image"] == DEFAULT_IMAGE
    assert container["env"] == [
        {"name": "GOFLAGS", "value": "-mod=mod"},
        {"name": "OTTO_OUTPUTS", "value": "/dev/termination-log"},
        {"name": "OTTO_STAGE_ID", "value": "build"},
    ]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


async def test_a_bad_stage_option_is_refused_before_any_api_call(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    worker = spec().model_copy(update={"config": {"ottoscaler.cpu_limit": "lots"}})

    with pytest.raises(PermanentRuntimeError, match=r"ottoscaler.cpu_limit='lots'"):
        await kube_runtime.create(worker)
    assert kube_cluster.emulator.requests == []


async def test_worker_output_can_be_followed_and_resumed_by_time(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    """The pods/log contract the log-tail activity builds on, through the same ApiClient."""
    await run(kube_runtime, spec(FAKE_DURATION=0.1, FAKE_LINES=3))
    core = CoreV1Api(kube_cluster.api)

    followed = await asyncio.to_thread(
        core.read_namespaced_pod_log, "w", NAMESPACE, follow=True, timestamps=True
    )
    stamped = followed.splitlines()
    second = stamped[1].split(" ", 1)[0]
    rest = await asyncio.to_thread(
        kube_cluster.api.call_api,
        "GET",
        f"{kube_cluster.emulator.host}/api/v1/namespaces/{NAMESPACE}/pods/w/log?sinceTime={second}",
    )
    resumed = rest.read().decode().splitlines()  # type: ignore[no-untyped-call]

    assert [line.split(" ", 1)[1] for line in stamped] == ["line 1", "line 2", "line 3"]
    assert resumed == ["line 2", "line 3"]
