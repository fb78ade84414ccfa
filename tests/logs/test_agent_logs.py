"""LogStreamingService: agents register, push their logs, and get ACK, RETRY or DROP."""

from __future__ import annotations

import asyncio

import pytest
from grpc import aio

from activities.logs.lines import CONTINUED, MAX_LINE_BYTES
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.agent_calls import entry, registration
from tests.logs.pipelines import collect

Registered = pb.RegistrationResponse.Status
Answer = pb.LogResponse.Status
SLOW_RATE = 20


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"agent_rate_limit": SLOW_RATE})


async def answer(call: aio.StreamStreamCall[pb.LogEntry, pb.LogResponse]) -> pb.LogResponse:
    response = await call.read()
    assert isinstance(response, pb.LogResponse)
    return response


async def test_registration_gives_one_session_and_names_what_is_missing(
    agents: pb_grpc.LogStreamingServiceAsyncStub, settings: Settings
) -> None:
    first = await agents.RegisterWorker(registration(settings, "agent-r"))
    again = await agents.RegisterWorker(registration(settings, "agent-r"))
    missing = await agents.RegisterWorker(pb.WorkerRegistration(worker_id="agent-x"))
    too_long = await agents.RegisterWorker(registration(settings, "a" * 254))
    assert first.status == Registered.SUCCESS and first.session_id
    assert first.config.max_message_size == MAX_LINE_BYTES and first.config.rate_limit > 0
    assert (again.status, again.session_id) == (Registered.ALREADY_REGISTERED, first.session_id)
    assert (missing.status, missing.message) == (Registered.INVALID_REQUEST, "task_id: required")
    assert (too_long.status, too_long.message) == (
        Registered.INVALID_REQUEST,
        "worker_id: at most 253 characters",
    )


async def test_entries_are_acked_in_sequence_dropped_when_invalid_and_followed_live(
    agents: pb_grpc.LogStreamingServiceAsyncStub,
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    settings: Settings,
) -> None:
    session = (await agents.RegisterWorker(registration(settings, "agent-1"))).session_id
    follow = pb.WorkerLogsRequest(worker_pod_name="agent-1", follow=True)
    followed = asyncio.create_task(collect(stub.StreamWorkerLogs(follow)))
    sent = [
        entry("agent-1", session, "compiling", level="INFO"),
        entry(
            "agent-1",
            session,
            "warning: unused",
            source="stderr",
            timestamp="2025-09-01T12:00:00Z",
        ),
        entry("agent-9", session, "who am I"),
        entry("agent-1", session, "odd", source="syslog"),
        entry("agent-1", session, "when?", timestamp="yesterday"),
        entry("agent-1", session, "é" * MAX_LINE_BYTES),
    ]
    answers = await collect(agents.StreamLogs(iter(sent)))  # then the agent is done
    assert [(a.status, a.sequence) for a in answers] == [
        (Answer.ACK, 1),
        (Answer.ACK, 2),
        (Answer.DROP, 0),
        (Answer.DROP, 0),
        (Answer.DROP, 0),
        (Answer.ACK, 3),
    ]
    assert [a.message.split(":")[0] for a in answers[2:5]] == ["worker_id", "source", "timestamp"]
    lines = await asyncio.wait_for(followed, 10)  # ends: the agent's stream ended normally
    assert [(e.sequence, e.source, e.level) for e in lines] == [
        (1, "stdout", "INFO"),
        (2, "stderr", ""),
        (3, "stdout", ""),
    ]
    assert lines[1].timestamp == "2025-09-01T12:00:00.000Z"
    assert lines[2].message.endswith(CONTINUED) and len(lines[2].message.encode()) < 2**17
    assert (lines[0].task_id, lines[0].pod_metadata.labels["team"]) == ("task-a", "ci")


async def test_an_agent_over_its_rate_is_told_to_retry_and_loses_nothing(
    agents: pb_grpc.LogStreamingServiceAsyncStub, settings: Settings
) -> None:
    registered = await agents.RegisterWorker(registration(settings, "agent-2"))
    assert registered.config.rate_limit == SLOW_RATE  # AGENT_RATE_LIMIT, told to the agent
    # Three seconds' worth at once: the bucket holds one, and taking in these few entries
    # is far quicker than the second it takes to refill, however busy the machine.
    burst = 3 * SLOW_RATE
    session = registered.session_id
    pending = [entry("agent-2", session, f"line {n}") for n in range(1, burst + 1)]
    acked: list[tuple[int, str]] = []
    rounds = 0
    call = agents.StreamLogs()
    while pending:
        rounds += 1
        for sent in pending:
            await call.write(sent)
        answers = [await answer(call) for _ in pending]
        retry = [s for s, a in zip(pending, answers, strict=True) if a.status == Answer.RETRY]
        acked += [
            (a.sequence, s.message)
            for s, a in zip(pending, answers, strict=True)
            if a.status == Answer.ACK
        ]
        pending = retry
        await asyncio.sleep(0.25)  # the agent backs off before resending
    await call.done_writing()
    assert rounds > 1  # some entries were answered RETRY
    assert sorted(acked) == acked and [n for n, _ in acked] == list(range(1, burst + 1))
    assert sorted(m for _, m in acked) == sorted(f"line {n}" for n in range(1, burst + 1))
