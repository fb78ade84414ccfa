"""Secrets over real gRPC on every runtime: the worker gets each value, and nothing that
Ottoscaler writes holds one, in plain text or base64.

Searched: every workflow history of the task queue (fetch_history), the pod specs the
Kubernetes emulator received, every file under the data dir (the log archive), what the
otto-handler stand-in received, StreamWorkerLogs, GetPipeline, the stream's progress and
Ottoscaler's own log output. The store is empty once the run has ended.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.logs.credentials import agent_credential
from activities.logs.lines import CONTINUED, MAX_LINE_BYTES
from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.secrets.store import SecretStore
from gateway.app import Running, running_ottoscaler
from gateway.reaper.schedule import reaper_schedule_id
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.logs.otto_handler import FakeOttoHandler
from tests.logs.pipelines import collect, pipeline
from tests.pools.calls import status
from tests.reaper.test_reaper import sweep
from tests.waiting import eventually
from workflows.workers.spec import MANAGED_BY, Labels, SecretRefs, WorkerSpec

TOKEN = "tok-9f3a7c1e55d04b2a"
# A stage's own value of a name the pipeline also sets, and a key of several lines.
STAGE_TOKEN = "stage-tok-1b7e29c4a0"
DEPLOY_KEY = "-----BEGIN KEY-----\nk3y-b0dy-ab12cd34\n-----END KEY-----"
VALUES = (TOKEN, STAGE_TOKEN, DEPLOY_KEY)
# The worker prints each value plainly, in base64 and split over lines, and a digest of
# each that proves it got the value.
LOCAL_SCRIPT = (
    'echo "token=$API_TOKEN"; printf %s "$API_TOKEN" | base64; echo "$DEPLOY_KEY";'
    ' printf %s "$API_TOKEN" | sha256sum; printf %s "$DEPLOY_KEY" | sha256sum;'
    ' echo "failing with $API_TOKEN" >&2; exit 3'
)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def forms(value: str) -> list[str]:
    """The value, each line of it, and its base64 encodings."""
    pieces = [value, base64.b64encode(value.encode()).decode()]
    pieces += [line for line in value.splitlines() if len(line) >= 8]
    return pieces


def leaks(text: str) -> list[str]:
    return [piece for value in VALUES for piece in forms(value) if piece in text]


def stages(kind: RuntimeKind) -> list[pb.PipelineStage]:
    if kind is RuntimeKind.LOCAL:
        config: dict[str, str] = {}
        command = ["sh", "-c", LOCAL_SCRIPT]
    elif kind is RuntimeKind.KUBERNETES:
        config = {"FAKE_ECHO": "API_TOKEN,DEPLOY_KEY", "FAKE_EXIT_CODE": "3"}
        command = []
    else:
        config = {"mock.lines": "3", "mock.exit_code": "3"}
        command = []
    return [
        pb.PipelineStage(stage_id="build", config=config, command=command),
        pb.PipelineStage(
            stage_id="deploy",
            config=config,
            command=command,
            secrets={"API_TOKEN": STAGE_TOKEN, "DEPLOY_KEY": DEPLOY_KEY},
        ),
    ]


@pytest.fixture
async def ottoscaler(
    client: Client, settings: Settings, kube_cluster: KubeCluster, runtime_kind: RuntimeKind
) -> AsyncIterator[Running]:
    """On the kubernetes runtime against the emulator; else as OTTOSCALER_RUNTIME says."""
    runtime = None
    if runtime_kind is RuntimeKind.KUBERNETES:
        runtime = KubernetesRuntime(NAMESPACE, "busybox:latest", kube_cluster.api)
        settings = settings.model_copy(update={"namespace": NAMESPACE})
    try:
        async with running_ottoscaler(settings, client, runtime) as running:
            yield running
    finally:
        await client.get_schedule_handle(reaper_schedule_id(settings.temporal_task_queue)).delete()


async def histories(client: Client, task_queue: str) -> str:
    texts = []
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}'"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        texts.append((await handle.fetch_history()).to_json())
    return "\n".join(texts)


def files_under(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode(errors="replace") for p in root.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize(
    "runtime_kind", [RuntimeKind.MOCK, RuntimeKind.LOCAL, RuntimeKind.KUBERNETES]
)
async def test_no_secret_value_is_written_anywhere(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    client: Client,
    settings: Settings,
    runtime_kind: RuntimeKind,
    otto_handler: FakeOttoHandler,
    kube_cluster: KubeCluster,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    request = pipeline(*stages(runtime_kind))
    request.secrets["API_TOKEN"] = TOKEN

    progress = await collect(stub.ExecutePipeline(request))

    assert progress[-1].status == pb.STAGE_FAILED  # both stages exit 3, after printing
    logs = await collect(
        stub.StreamWorkerLogs(pb.WorkerLogsRequest(pipeline_id=request.pipeline_id))
    )
    messages = "\n".join(entry.message for entry in logs)
    if runtime_kind is RuntimeKind.KUBERNETES:  # the kubelet read each value from the Secret
        assert messages.count("***") == 1 + 1 + 3  # each API_TOKEN, the 3 lines of the key
    if runtime_kind is RuntimeKind.LOCAL:  # each worker got its values, and printed them
        assert messages.count("token=***") == 2
        assert digest(TOKEN) in messages and digest(STAGE_TOKEN) in messages
        assert digest(DEPLOY_KEY) in messages
    await eventually(lambda: _forwarded(otto_handler, len(logs)), within=30)
    snapshot = await stub.GetPipeline(pb.PipelineRef(pipeline_id=request.pipeline_id))
    pod_specs = json.dumps(
        [r.body for r in kube_cluster.emulator.requests if r.path.endswith("/pods")]
    )

    assert leaks(await histories(client, settings.temporal_task_queue)) == []
    assert leaks(pod_specs) == []
    assert ("secretKeyRef" in pod_specs) is (runtime_kind is RuntimeKind.KUBERNETES)
    assert leaks(files_under(settings.ottoscaler_data_dir)) == []
    assert leaks("\n".join(e.message for e in otto_handler.received)) == []
    assert leaks(messages) == []
    assert leaks(str(snapshot) + "".join(map(str, progress))) == []
    assert leaks(caplog.text) == []
    assert await ottoscaler_store_empty(stub, kube_cluster, settings, runtime_kind)


async def _forwarded(otto_handler: FakeOttoHandler, count: int) -> bool:
    return len({(e.worker_id, e.sequence) for e in otto_handler.received}) >= count


async def ottoscaler_store_empty(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    kube_cluster: KubeCluster,
    settings: Settings,
    runtime_kind: RuntimeKind,
) -> bool:
    """The run's end deleted its Secret, or its entry and file of the local store."""
    if runtime_kind is RuntimeKind.KUBERNETES:
        return kube_cluster.emulator.secrets(NAMESPACE) == []
    secrets_dir = settings.ottoscaler_data_dir / "secrets"
    return not secrets_dir.exists() or not any(secrets_dir.iterdir())


async def test_bad_secrets_are_invalid_argument_naming_the_field_never_the_value(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    cases = {
        "secrets key '1BAD'": pb.PipelineRequest(secrets={"1BAD": TOKEN}),
        "stages[0].secrets['OTTO_TASK_ID']": pb.PipelineRequest(
            stages=[pb.PipelineStage(stage_id="a", secrets={"OTTO_TASK_ID": TOKEN})]
        ),
        "stages[0].secrets['BIG']": pb.PipelineRequest(
            stages=[pb.PipelineStage(stage_id="a", secrets={"BIG": TOKEN * 5000})]
        ),
    }
    for field, request in cases.items():
        request.pipeline_id = "bad-secrets"
        if not request.stages:
            request.stages.append(pb.PipelineStage(stage_id="a"))
        with pytest.raises(aio.AioRpcError) as err:
            await collect(stub.ExecutePipeline(request))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (err.value.details() or "")
        assert TOKEN not in (err.value.details() or "")


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.MOCK, RuntimeKind.KUBERNETES])
async def test_the_reaper_removes_the_secrets_a_dead_run_left(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    client: Client,
    ottoscaler: Running,
    settings: Settings,
    runtime_kind: RuntimeKind,
) -> None:
    """A run that never reached its end (terminated, as after a crash) leaves its store;
    a sweep deletes it, and keeps the store of a run still open."""
    store = ottoscaler.runtime.secrets
    config = {"mock.duration": "600", "FAKE_DURATION": "600"}
    requests = [pipeline(pb.PipelineStage(stage_id="build", config=config)) for _ in range(2)]
    for request in requests:
        request.secrets["API_TOKEN"] = TOKEN
        stub.ExecutePipeline(request)  # the stream is left open: the run goes on
    await eventually(lambda: _stores(store, 2), within=30)
    dead, alive = (client.get_workflow_handle(f"pipeline-{r.pipeline_id}") for r in requests)
    # The gateway stores a run's secrets before it starts the run: wait for both runs.
    await eventually(lambda: _started(dead), within=30)
    await eventually(lambda: _started(alive), within=30)
    await dead.terminate("the process running it crashed")

    result = await sweep(client, settings.temporal_task_queue, grace_seconds=0)

    assert len(result.secrets_deleted) == 1
    [kept] = await store.list()
    assert kept.labels[Labels.PIPELINE_ID] == requests[1].pipeline_id
    await alive.terminate("test over")


async def _started(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        await handle.describe()
    except RPCError:
        return False
    return True


async def _stores(store: SecretStore, count: int) -> bool:
    return len(await store.list()) == count


async def test_an_agents_lines_are_masked_with_its_workers_secrets(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    agents: pb_grpc.LogStreamingServiceAsyncStub,
    ottoscaler: Running,
    settings: Settings,
) -> None:
    """The store is the one the runtime's labels of the worker name. (A pipeline worker's
    log is its tail's while it runs: the agent here writes for a worker made directly.)"""
    task, store = "agent-secrets", "secrets-agent"
    labels = {Labels.MANAGED_BY: MANAGED_BY, Labels.TASK_ID: task, Labels.SECRETS: store}
    await ottoscaler.runtime.secrets.put(store, labels, {"API_TOKEN": TOKEN})
    spec = WorkerSpec(
        name="agent-secrets-0",
        labels=labels,
        config={"mock.duration": "600"},
        secrets=SecretRefs(store=store, keys={"API_TOKEN": "API_TOKEN"}),
    )
    await ottoscaler.runtime.create(spec)
    await eventually(lambda: _listed(stub, task), within=30)
    credential = agent_credential(settings.signing_key, task, spec.name)
    registered = await agents.RegisterWorker(
        pb.WorkerRegistration(worker_id=spec.name, task_id=task, credential=credential)
    )
    encoded = base64.b64encode(TOKEN.encode()).decode()
    sent = [f"token={TOKEN}", f"encoded {encoded}", "no secret here"]
    entries = (
        pb.LogEntry(worker_id=spec.name, task_id=task, session_id=registered.session_id, message=m)
        for m in sent
    )

    answers = await collect(agents.StreamLogs(entries))

    assert {a.status for a in answers} == {pb.LogResponse.Status.ACK}
    request = pb.WorkerLogsRequest(worker_pod_name=spec.name)
    logs = await collect(stub.StreamWorkerLogs(request))
    token, encoded_line, plain = (e.message for e in logs)
    # The last base64 characters hold bits of what follows the value: they may stay.
    assert (token, encoded_line[:11], plain) == ("token=***", "encoded ***", "no secret here")
    assert leaks(encoded_line) == []
    assert leaks(files_under(settings.ottoscaler_data_dir / "logs")) == []
    await ottoscaler.runtime.delete(spec.name)


async def test_an_agent_saying_its_worker_has_secrets_waits_until_the_runtime_lists_it(
    agents: pb_grpc.LogStreamingServiceAsyncStub, settings: Settings
) -> None:
    """Which values to mask is not known yet: the entry is RETRY, nothing is archived."""
    task, pod = "agent-early", "agent-early-0"
    credential = agent_credential(settings.signing_key, task, pod)
    metadata = pb.WorkerMetadata(labels={Labels.SECRETS: "secrets-early"})
    registered = await agents.RegisterWorker(
        pb.WorkerRegistration(worker_id=pod, task_id=task, credential=credential, metadata=metadata)
    )
    sent = pb.LogEntry(
        worker_id=pod, task_id=task, session_id=registered.session_id, message=f"t={TOKEN}"
    )

    [answer] = await collect(agents.StreamLogs(iter([sent])))

    assert answer.status == pb.LogResponse.Status.RETRY
    assert answer.message.startswith("worker_id: the runtime does not list the worker yet")


async def _listed(stub: pb_grpc.OttoscalerServiceAsyncStub, task: str) -> bool:
    return (await status(stub, task)).total_count == 1


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_a_value_cut_by_the_line_split_is_masked_on_both_sides(
    stub: pb_grpc.OttoscalerServiceAsyncStub, settings: Settings
) -> None:
    """A line over MAX_LINE_BYTES is archived in pieces; the value straddles the cut."""
    before = MAX_LINE_BYTES - 6  # six characters of the value end the first piece
    script = f"head -c {before} /dev/zero | tr '\\0' x; printf %s \"$API_TOKEN\"; echo ' end'"
    request = pipeline(pb.PipelineStage(stage_id="build", command=["sh", "-c", script]))
    request.secrets["API_TOKEN"] = TOKEN

    progress = await collect(stub.ExecutePipeline(request))

    assert progress[-1].status == pb.STAGE_COMPLETED
    logs = await collect(
        stub.StreamWorkerLogs(pb.WorkerLogsRequest(pipeline_id=request.pipeline_id))
    )
    first, second = (entry.message for entry in logs)
    assert first == "x" * before + "***" + CONTINUED
    assert second == "*** end"
    archive = files_under(settings.ottoscaler_data_dir)
    assert TOKEN[:6] not in archive and TOKEN[6:] not in archive
