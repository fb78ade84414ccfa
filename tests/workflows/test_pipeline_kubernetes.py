"""PipelineWorkflow on a real Temporal dev server with the kubernetes runtime (API emulator).

The fake kubelet plays each worker as its stage config says (FAKE_* keys become the
container's environment, see tests/kube/kubelet.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from temporalio.client import Client

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from tests.builders import pipeline, run_pipeline, version_of, worker
from tests.kube.fixtures import NAMESPACE, KubeCluster
from workflows.pipeline.models import (
    PipelineSnapshot,
    RetrySpec,
    StageSpec,
    StageState,
    StageStatus,
)

COMPLETED, RUNNING = StageStatus.COMPLETED, StageStatus.RUNNING


def kube_stage(
    stage_id: str,
    *depends_on: str,
    max_attempts: int = 1,
    retryable: Sequence[str] = (),
    **fake: str,
) -> StageSpec:
    """A stage whose workers the fake kubelet runs as FAKE_<KEY> (duration 0.05 s by default)."""
    config = {"FAKE_DURATION": "0.05"} | {f"FAKE_{key.upper()}": v for key, v in fake.items()}
    return StageSpec(
        stage_id=stage_id,
        type="test",
        depends_on=depends_on,
        config=config,
        retry=RetrySpec(max_attempts=max_attempts, retryable_failures=tuple(retryable)),
    )


def stage(result: PipelineSnapshot, stage_id: str) -> StageState:
    return next(s for s in result.stages if s.stage_id == stage_id)


async def test_a_chain_runs_in_order_and_leaves_no_pod(
    client: Client, task_queue: str, kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    spec = pipeline(kube_stage("build"), kube_stage("test", "build"), kube_stage("deploy", "test"))
    async with worker(client, task_queue, kube_runtime):
        result, events = await run_pipeline(client, task_queue, spec)

    assert result.status is COMPLETED
    assert [s.status for s in result.stages] == [COMPLETED] * 3
    assert version_of(events, "build", COMPLETED) < version_of(events, "test", RUNNING)
    assert version_of(events, "test", COMPLETED) < version_of(events, "deploy", RUNNING)
    assert kube_cluster.emulator.pods(NAMESPACE) == []


async def test_a_diamond_joins_only_after_both_branches(
    client: Client, task_queue: str, kube_runtime: KubernetesRuntime
) -> None:
    spec = pipeline(
        kube_stage("a"),
        kube_stage("b", "a", duration="0.5"),
        kube_stage("c", "a"),
        kube_stage("d", "b", "c"),
    )
    async with worker(client, task_queue, kube_runtime):
        result, events = await run_pipeline(client, task_queue, spec)

    assert result.status is COMPLETED
    d_starts = version_of(events, "d", RUNNING)
    assert version_of(events, "b", COMPLETED) < d_starts
    assert version_of(events, "c", COMPLETED) < d_starts
    assert version_of(events, "c", RUNNING) < version_of(events, "b", COMPLETED)


async def test_a_failing_pod_fails_its_stage_and_skips_what_depends_on_it(
    client: Client, task_queue: str, kube_runtime: KubernetesRuntime
) -> None:
    spec = pipeline(
        kube_stage("build", exit_code="3"), kube_stage("deploy", "build"), kube_stage("lint")
    )
    async with worker(client, task_queue, kube_runtime):
        result, _ = await run_pipeline(client, task_queue, spec)

    assert result.status is StageStatus.FAILED
    assert "Error (exit 3)" in stage(result, "build").error_message
    assert stage(result, "deploy").status is StageStatus.SKIPPED
    assert stage(result, "lint").status is COMPLETED


@pytest.mark.parametrize(
    ("fake", "status", "attempts"),
    [
        ({"reason": "OOMKilled"}, COMPLETED, 2),
        ({"exit_code": "1"}, StageStatus.FAILED, 1),
    ],
    ids=["oom-killed-is-retried", "other-failures-are-not"],
)
async def test_only_the_named_pod_failures_are_retried(
    client: Client,
    task_queue: str,
    kube_runtime: KubernetesRuntime,
    fake: dict[str, str],
    status: StageStatus,
    attempts: int,
) -> None:
    build = kube_stage("build", max_attempts=2, retryable=["OOMKilled"], fail_attempts="1", **fake)
    async with worker(client, task_queue, kube_runtime):
        result, _ = await run_pipeline(client, task_queue, pipeline(build))

    assert (stage(result, "build").status, stage(result, "build").attempt) == (status, attempts)


async def test_an_image_that_cannot_be_pulled_fails_the_stage_fast(
    client: Client, task_queue: str, kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    started = time.monotonic()
    spec = pipeline(kube_stage("build", waiting_reason="ImagePullBackOff"))
    async with worker(client, task_queue, kube_runtime):
        result, _ = await run_pipeline(client, task_queue, spec)

    assert result.status is StageStatus.FAILED
    assert stage(result, "build").error_message.startswith("shard 0 of 1: ImagePullBackOff")
    assert time.monotonic() - started < 30  # the pending deadline is 300 s
    assert kube_cluster.emulator.pods(NAMESPACE) == []
