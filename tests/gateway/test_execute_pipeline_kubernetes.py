"""ExecutePipeline over real gRPC with OTTOSCALER_RUNTIME=kubernetes, against the API emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio
from temporalio.client import Client, ScheduleActionStartWorkflow

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from gateway.app import running_ottoscaler
from gateway.reaper.schedule import reaper_schedule_id
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import NAMESPACE, KubeCluster


@pytest.fixture
async def kube_stub(
    client: Client, task_queue: str, kube_runtime: KubernetesRuntime
) -> AsyncIterator[pb_grpc.OttoscalerServiceAsyncStub]:
    settings = Settings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=RuntimeKind.KUBERNETES,
        namespace=NAMESPACE,
    )
    try:
        async with (
            running_ottoscaler(settings, client, kube_runtime) as running,
            aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
        ):
            yield pb_grpc.OttoscalerServiceStub(channel)
    finally:
        await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()


async def test_execute_pipeline_runs_its_stages_as_pods(
    kube_cluster: KubeCluster, kube_stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    request = pb.PipelineRequest(
        pipeline_id=f"kube-{uuid.uuid4().hex[:8]}",
        stages=[
            pb.PipelineStage(stage_id="build", worker_count=2, config={"FAKE_DURATION": "0.1"}),
            pb.PipelineStage(stage_id="test", depends_on=["build"], config={"FAKE_EXIT_CODE": "2"}),
        ],
    )

    call = kube_stub.ExecutePipeline(request)
    events = [event async for event in call]

    assert await call.code() == grpc.StatusCode.OK
    built = next(e for e in events if e.stage_id == "build" and e.status == pb.STAGE_COMPLETED)
    assert built.metrics.successful_workers == 2
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert "exit 2" in final.error_message
    created = [r.body for r in kube_cluster.emulator.requests if r.method == "POST"]
    assert sorted(pod["metadata"]["labels"]["stage-id"] for pod in created) == [
        "build",
        "build",
        "test",
    ]
    assert kube_cluster.emulator.pods(NAMESPACE) == []


async def test_starting_ottoscaler_ensures_the_reaper_schedule_of_its_task_queue(
    client: Client, task_queue: str, kube_stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    described = await client.get_schedule_handle(reaper_schedule_id(task_queue)).describe()

    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("ReaperWorkflow", task_queue)
    assert [i.every.total_seconds() for i in described.schedule.spec.intervals] == [
        Settings().reaper_interval_seconds
    ]


async def test_outputs_are_the_termination_message_and_matrix_shards_are_labelled(
    kube_cluster: KubeCluster, kube_stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    """The fake kubelet reports what a container wrote to its terminationMessagePath
    (FAKE_OUTPUTS), as a real one does."""
    test = pb.PipelineStage(
        stage_id="test",
        depends_on=["build"],
        when='stages.build.outputs.version == "1.2.3"',
        matrix=[pb.MatrixAxis(name="os", values=["linux", "Mac OS/X 15"])],
    )
    request = pb.PipelineRequest(
        pipeline_id=f"kube-{uuid.uuid4().hex[:8]}",
        stages=[
            pb.PipelineStage(
                stage_id="build",
                worker_count=2,
                config={"FAKE_OUTPUTS": "version=1.2.3\nimage=registry/app:1.2.3\n"},
            ),
            test,
            pb.PipelineStage(stage_id="big", config={"FAKE_OUTPUTS": "x=" + "y" * 5000}),
        ],
    )

    events = [event async for event in kube_stub.ExecutePipeline(request)]

    built = next(e for e in events if e.stage_id == "build" and e.status == pb.STAGE_COMPLETED)
    assert dict(built.outputs) == {"version": "1.2.3", "image": "registry/app:1.2.3"}
    assert any(e.stage_id == "test" and e.status == pb.STAGE_COMPLETED for e in events)
    # Kubernetes kept the last 4,096 bytes: a text past the limit is told from one at it.
    big = next(e for e in events if e.stage_id == "big" and e.status == pb.STAGE_FAILED)
    assert "InvalidOutputs" in big.error_message
    assert "OTTO_OUTPUTS holds more than 4000 bytes, the limit" in big.error_message
    created = [r.body for r in kube_cluster.emulator.requests if r.method == "POST"]
    [container] = created[0]["spec"]["containers"]
    assert (container["terminationMessagePath"], container["terminationMessagePolicy"]) == (
        "/dev/termination-log",
        "File",
    )
    shards = sorted(
        (pod for pod in created if pod["metadata"]["labels"]["stage-id"] == "test"),
        key=lambda pod: pod["metadata"]["labels"]["ottoscaler.io/shard"],
    )
    env = [
        {v["name"]: v.get("value") for v in pod["spec"]["containers"][0]["env"]} for pod in shards
    ]
    assert [e["OTTO_MATRIX_OS"] for e in env] == ["linux", "Mac OS/X 15"]
    assert {e["OTTO_OUTPUT_BUILD_VERSION"] for e in env} == {"1.2.3"}
    assert {e["OTTO_OUTPUTS"] for e in env} == {"/dev/termination-log"}
    labels = [pod["metadata"]["labels"]["ottoscaler.io/matrix-os"] for pod in shards]
    assert labels[0] == "linux"
    # Not a label value as it is: sanitised, and a hash keeps such values apart.
    assert labels[1].startswith("Mac-OS-X-15-") and len(labels[1]) == len("Mac-OS-X-15-") + 8
