"""Worker pools on the kubernetes runtime: real client, API emulator, fake kubelet."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from grpc import aio
from temporalio.client import Client, WorkflowExecutionStatus

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from gateway.app import running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.pools.calls import Stub, new_task, pool_closed, scale_down, scale_up, status
from tests.waiting import eventually


@pytest.fixture
async def kube_stub(
    client: Client, settings: Settings, kube_runtime: KubernetesRuntime
) -> AsyncIterator[Stub]:
    kube = settings.model_copy(update={"ottoscaler_runtime": RuntimeKind.KUBERNETES})
    async with (
        running_ottoscaler(kube, client, runtime=kube_runtime) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        yield pb_grpc.OttoscalerServiceStub(channel)


def pods_of(cluster: KubeCluster, task_id: str) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in cluster.emulator.pods(NAMESPACE)
        if p["metadata"]["labels"].get("task-id") == task_id
    )


async def test_scale_up_creates_pods_once_and_scale_down_deletes_them(
    kube_stub: Stub, kube_cluster: KubeCluster, client: Client
) -> None:
    task = new_task()
    answer = await scale_up(kube_stub, task, 3, "req-1", FAKE_DURATION="600")
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    assert sorted(answer.worker_pod_names) == pods_of(kube_cluster, task)
    pod = kube_cluster.emulator.pod(NAMESPACE, answer.worker_pod_names[0])
    assert pod is not None
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert (env["OTTO_TASK_ID"], env["FAKE_DURATION"]) == (task, "600")

    again = await scale_up(kube_stub, task, 3, "req-1", FAKE_DURATION="600")
    assert again.status == pb.ScaleResponse.ALREADY_PROCESSED
    assert list(again.worker_pod_names) == list(answer.worker_pod_names)
    assert len(pods_of(kube_cluster, task)) == 3

    async def all_running() -> bool:
        seen = await status(kube_stub, task)
        return seen.running_count == 3

    await eventually(all_running)
    seen = await status(kube_stub, task, "running")
    assert all(w.node_name and w.pod_ip and w.status == "Running" for w in seen.workers)

    down = await scale_down(kube_stub, task, 0)
    assert sorted(down.worker_pod_names) == sorted(answer.worker_pod_names)
    await kube_cluster.emulator.until(lambda: not pods_of(kube_cluster, task), within=10)
    assert await pool_closed(client, task) is WorkflowExecutionStatus.COMPLETED


async def test_a_failed_pod_is_reported_with_its_reason(
    kube_stub: Stub, kube_cluster: KubeCluster
) -> None:
    task = new_task()
    answer = await scale_up(kube_stub, task, 1, FAKE_DURATION="0.1", FAKE_EXIT_CODE="3")
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message

    async def failed() -> pb.WorkerStatusResponse | None:
        seen = await status(kube_stub, task, "failed")
        return seen if seen.failed_count == 1 else None

    seen = await eventually(failed)
    assert seen is not None
    assert "exit 3" in seen.workers[0].error_message
