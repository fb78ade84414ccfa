"""Agents prove their worker with its own credential, hold a slot only while they stream or
for AGENT_REGISTRATION_TTL_SECONDS, and never write to a worker that has ended."""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import pytest
from grpc import aio
from temporalio.client import Client

from activities.logs.credentials import agent_credential
from gateway.app import Running
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.agent_calls import TASK, entry, registration
from tests.logs.pipelines import collect, pipeline, printing
from tests.pools.calls import new_task, scale_down, scale_up, status
from tests.waiting import eventually
from workflows.pool.specs import pool_workflow_id

Agents: TypeAlias = "pb_grpc.LogStreamingServiceAsyncStub"
Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
Call: TypeAlias = "aio.StreamStreamCall[pb.LogEntry, pb.LogResponse]"
Registered = pb.RegistrationResponse.Status
Answer = pb.LogResponse.Status
AGENT = Path(__file__).with_name("agent_process.py")
IDLE = 500
TTL = 1.0


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: Settings, overrides: dict[str, Any]) -> Settings:
    return settings.model_copy(update=overrides)


def worker(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


async def refusal(call: Any, code: grpc.StatusCode) -> str:
    """The details of the error the call ended with, which must have this code."""
    with pytest.raises(aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value
    return caught.value.details() or ""


async def answer(call: Call, sent: pb.LogEntry) -> pb.LogResponse:
    await call.write(sent)
    response = await call.read()
    assert isinstance(response, pb.LogResponse), response
    return response


async def archived(stub: Stub, pod: str) -> list[str]:
    entries = await collect(stub.StreamWorkerLogs(pb.WorkerLogsRequest(worker_pod_name=pod)))
    return [e.message for e in entries]


# Room for the idle registrations and one agent that streams all along.
@pytest.mark.parametrize(
    "overrides", [{"agent_registration_ttl_seconds": TTL, "max_workers": IDLE + 1}]
)
async def test_registrations_that_never_stream_expire_and_let_a_real_agent_in(
    agents: Agents, settings: Settings
) -> None:
    busy = worker("busy")
    session = (await agents.RegisterWorker(registration(settings, busy))).session_id
    streaming = agents.StreamLogs()
    assert (await answer(streaming, entry(busy, session, "one"))).sequence == 1
    idle = [worker("idle") for _ in range(IDLE)]
    answers = await asyncio.gather(
        *(agents.RegisterWorker(registration(settings, w)) for w in idle)
    )
    assert {a.status for a in answers} == {Registered.SUCCESS}
    real = worker("real")

    async def real_agent_in() -> bool:
        answered = await agents.RegisterWorker(registration(settings, real))
        assert answered.status in (Registered.SUCCESS, Registered.SERVER_FULL), answered
        return answered.status == Registered.SUCCESS

    await eventually(real_agent_in, within=60, interval=0.1)
    # The idle sessions expired; the one that streams all along did not.
    assert (await answer(streaming, entry(busy, session, "two"))).sequence == 2
    again = await agents.RegisterWorker(registration(settings, idle[0]))
    assert again.status == Registered.SUCCESS and again.session_id != answers[0].session_id
    await streaming.done_writing()


async def test_a_hijacker_learns_no_session_and_writes_nothing(
    agents: Agents, stub: Stub, settings: Settings
) -> None:
    victim, thief = worker("victim"), worker("thief")
    owner = await agents.RegisterWorker(registration(settings, victim))
    assert owner.status == Registered.SUCCESS
    secret = owner.session_id
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    denied = grpc.StatusCode.PERMISSION_DENIED
    attempts = [
        (registration(settings, victim, credential=""), unauthenticated, "credential: required"),
        (
            registration(settings, victim, credential=agent_credential(b"guess", TASK, victim)),
            denied,
            "credential: not the credential of worker_id",
        ),
        (
            registration(
                settings, victim, credential=agent_credential(settings.signing_key, TASK, thief)
            ),
            denied,
            "credential: not the credential of worker_id",
        ),
        (registration(settings, thief, pod=victim), denied, "metadata.pod_name:"),
        (
            registration(settings, thief, labels={"pipeline-id": "someone-else"}),
            denied,
            "metadata.labels[pipeline-id]:",
        ),
    ]
    for request, code, reason in attempts:
        details = await refusal(agents.RegisterWorker(request), code)
        assert details.startswith(reason) and secret not in details
    # Entries for the victim without its session, or with a guess, are refused too.
    for session, code in (("", unauthenticated), (uuid.uuid4().hex, denied)):
        details = await refusal(
            collect(agents.StreamLogs(iter([entry(victim, session, "x")]))), code
        )
        assert details.startswith("session_id:") and secret not in details
    # The victim itself proves it is the same worker and keeps its session and its log.
    again = await agents.RegisterWorker(registration(settings, victim))
    assert (again.status, again.session_id) == (Registered.ALREADY_REGISTERED, secret)
    acks = await collect(agents.StreamLogs(iter([entry(victim, secret, "mine")])))
    assert [(a.status, a.sequence) for a in acks] == [(Answer.ACK, 1)]
    assert await archived(stub, victim) == ["mine"]


async def test_lines_for_a_pool_worker_that_ended_are_refused(
    agents: Agents, stub: Stub, settings: Settings
) -> None:
    task = new_task()
    (pod,) = (await scale_up(stub, task, 1, mock_duration="600")).worker_pod_names

    async def running() -> bool:
        return (await status(stub, task)).running_count == 1

    await eventually(running, within=30)
    registered = await agents.RegisterWorker(registration(settings, pod, task))
    assert registered.status == Registered.SUCCESS, registered.message
    call = agents.StreamLogs()
    late = pb.LogEntry(worker_id=pod, session_id=registered.session_id, message="after")
    first = pb.LogEntry(worker_id=pod, session_id=registered.session_id, message="before")
    assert (await answer(call, first)).status == Answer.ACK
    await scale_down(stub, task, 0)  # deletes the worker

    async def gone() -> bool:
        return (await status(stub, task)).total_count == 0

    await eventually(gone, within=30)
    await call.write(late)
    with pytest.raises(aio.AioRpcError) as refused:
        await call.read()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details() == f"worker_id: worker {pod!r} has ended: its log is closed"
    details = await refusal(
        agents.RegisterWorker(registration(settings, pod, task)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert details.startswith("worker_id:")
    assert await archived(stub, pod) == ["before"]


async def test_an_agent_cannot_append_to_a_finished_pipelines_worker(
    agents: Agents, stub: Stub, settings: Settings
) -> None:
    request = pipeline(printing("build", lines=2))
    events = await collect(stub.ExecutePipeline(request))
    assert events[-1].status == pb.STAGE_COMPLETED
    (pod,) = {name for event in events for name in event.worker_pod_names}
    own = registration(settings, pod, request.pipeline_id)
    details = await refusal(agents.RegisterWorker(own), grpc.StatusCode.FAILED_PRECONDITION)
    assert details == f"worker_id: worker {pod!r} has ended: its log is closed"
    assert await archived(stub, pod) == ["line 1", "line 2"]


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
@pytest.mark.parametrize("overrides", [{"otto_agent_command": f"{sys.executable} {AGENT}"}])
async def test_a_workers_agent_registers_with_the_credential_in_its_environment(
    agents: Agents,
    stub: Stub,
    settings: Settings,
    ottoscaler: Running,
    client: Client,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    task = new_task()
    gateway = f"127.0.0.1:{ottoscaler.grpc_port}"
    (pod,) = (await scale_up(stub, task, 1, AGENT_GATEWAY=gateway)).worker_pod_names

    async def succeeded() -> bool:
        return (await status(stub, task)).succeeded_count == 1

    await eventually(succeeded, within=60)
    assert await archived(stub, pod) == ["hello"]
    # The credential reached the worker, and neither the pool's history nor a log line.
    credential = agent_credential(settings.signing_key, task, pod)
    history = await client.get_workflow_handle(pool_workflow_id(task)).fetch_history()
    events = "".join(map(str, history.events))  # payloads as text, not base64
    assert pod in events and credential not in events
    assert credential not in caplog.text
