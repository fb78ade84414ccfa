"""Forwarding with a window (OTTO_HANDLER_LOG_WINDOW): many lines of a pod in flight, each
accepted once whatever otto-handler answers, and the few cases where one goes twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from activities.logs import Archive, LiveHub, LogSinks, PodMeta
from activities.logs.archive import PodPaths
from gateway.logs.forwarder import LogForwarder
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.otto_handler import BREAK, FakeOttoHandler, Status, ack, serving
from tests.logs.pipelines import collect, pipeline, printing
from tests.logs.test_archive import lines
from tests.waiting import eventually

WINDOW = 32
LINES = 1000
POD = "p1-build-0"
RETRY = pb.LogForwardResponse(status=Status.RETRY, message="busy", throttle_ms=10)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"otto_handler_log_window": WINDOW})


@pytest.mark.usefixtures("ottoscaler")
async def test_a_pipeline_is_forwarded_whole_once_in_order_a_window_at_a_time(
    stub: pb_grpc.OttoscalerServiceAsyncStub, otto_handler: FakeOttoHandler
) -> None:
    otto_handler.answering.clear()  # lines arrive and wait for their answers
    request = pipeline(printing("build", lines=3000))
    progress = await asyncio.wait_for(collect(stub.ExecutePipeline(request)), 20)
    assert progress[-1].status == pb.STAGE_COMPLETED

    async def window_received() -> bool:
        return otto_handler.attempts.total() == WINDOW

    await eventually(window_received)
    otto_handler.answering.set()

    async def all_accepted() -> bool:
        return sum(map(len, otto_handler.accepted.values())) >= 3000

    await eventually(all_accepted)
    assert list(otto_handler.accepted.values()) == [list(range(1, 3001))]
    assert set(otto_handler.attempts.values()) == {1}
    assert otto_handler.most_unanswered == WINDOW  # a full window in flight, never more


class Backpressure:
    """Refuses line `first` and, until it comes again, every line sent after it: what a
    server under backpressure does with the lines in flight."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.refusing = False

    def __call__(self, entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
        if entry.sequence == self.first:
            self.refusing = attempt == 1
        return RETRY if self.refusing else ack(entry, attempt)


async def test_lines_refused_behind_a_refused_line_are_accepted_once_in_order(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(Backpressure(first=500))
    await forward_all(tmp_path, handler)
    assert handler.accepted[POD] == list(range(1, LINES + 1))
    # The window was full when 500 was refused: it and the lines behind it went again.
    twice = {n for (_, n), count in handler.attempts.items() if count == 2}
    assert twice == set(range(500, 500 + WINDOW))


def refuse_250_once_drop_every_100th(
    entry: pb.WorkerLogEntry, attempt: int
) -> pb.LogForwardResponse:
    if entry.sequence == 250 and attempt == 1:
        return RETRY
    if entry.sequence % 100 == 0:
        return pb.LogForwardResponse(status=Status.DROP, message="invalid")
    return ack(entry, attempt)


async def test_lines_accepted_behind_a_refused_line_are_never_sent_again(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(refuse_250_once_drop_every_100th)
    await forward_all(tmp_path, handler)
    accepted = handler.accepted[POD]
    assert sorted(accepted) == [n for n in range(1, LINES + 1) if n % 100]
    assert len(set(accepted)) == len(accepted)
    assert handler.attempts[(POD, 250)] == 2
    assert all(count == 1 for (_, n), count in handler.attempts.items() if n != 250)
    # The price of the window: 251 and on, in flight and accepted, went before 250.
    assert accepted.index(250) > accepted.index(251)


def break_at_500_once(entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
    return BREAK if entry.sequence == 500 and attempt == 1 else ack(entry, attempt)


async def test_a_stream_broken_mid_window_resumes_in_order_from_the_first_unread_answer(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(break_at_500_once)
    await forward_all(tmp_path, handler)
    accepted = handler.accepted[POD]
    # Answers sent but not read yet when the stream broke are lost (once a write meets
    # the ended call, grpcio drops them): those lines, fewer than a window, went again.
    resumed = accepted[499]
    assert 500 - WINDOW < resumed <= 500
    assert accepted == [*range(1, 500), *range(resumed, LINES + 1)]
    assert handler.attempts[(POD, 500)] == 2


def misnumber_100_once(entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
    if entry.sequence == 100 and attempt == 1:
        return pb.LogForwardResponse(status=Status.RETRY, sequence=99)
    return ack(entry, attempt)


async def test_an_answer_naming_another_line_breaks_the_stream(tmp_path: Path) -> None:
    handler = FakeOttoHandler(misnumber_100_once)
    await forward_all(tmp_path, handler)
    accepted = handler.accepted[POD]
    # Not taken as 100's RETRY: the stream was dropped, and everything from 100 on sent
    # again in order (lines after it that otto-handler took meanwhile, twice).
    assert accepted[accepted.index(100) :] == list(range(100, LINES + 1))
    assert accepted[:99] == list(range(1, 100))
    assert handler.attempts[(POD, 100)] == 2


def refuse_500_once_break_at_the_window_end_once(
    entry: pb.WorkerLogEntry, attempt: int
) -> pb.LogForwardResponse:
    if entry.sequence == 500 and attempt == 1:
        return RETRY
    if entry.sequence == 500 + WINDOW - 1 and attempt == 1:
        return BREAK
    return ack(entry, attempt)


async def test_a_stream_broken_while_a_refused_line_waits_resends_it_first(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(refuse_500_once_break_at_the_window_end_once)
    await forward_all(tmp_path, handler)
    # 531 is sent once 499 is settled, and then nothing until 500's round of answers is
    # read: no answer is lost to the break, and 500 goes again first.
    end = 500 + WINDOW - 1
    expected = [*range(1, 500), *range(501, end), 500, *range(end, LINES + 1)]
    assert handler.accepted[POD] == expected


def refuse_300(entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
    return RETRY if entry.sequence == 300 else ack(entry, attempt)


async def test_a_refused_line_holds_the_mark_and_the_window_and_a_restart_resends_from_it(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(refuse_300)
    async with forwarding(tmp_path, handler) as paths:

        async def held_at_300() -> bool:
            return await _mark(paths) == 299 and len(handler.accepted[POD]) == 298 + WINDOW

        await eventually(held_at_300)
        # Nothing is sent a window past the mark: 300 holds the rest back.
        assert handler.accepted[POD] == [*range(1, 300), *range(301, 300 + WINDOW)]
        assert (POD, 300 + WINDOW) not in handler.attempts
    # The next Ottoscaler resumes after the mark: 301 and on are accepted a second time.
    handler.script = ack
    async with forwarding(tmp_path, handler, write=False) as paths:
        await eventually(lambda: _exists(paths.forwarded))
    expected = [*range(1, 300), *range(301, 300 + WINDOW), *range(300, LINES + 1)]
    assert handler.accepted[POD] == expected


async def test_a_stopping_forwarder_commits_the_answers_to_its_window_in_flight(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler()
    handler.answering.clear()
    async with forwarding(tmp_path, handler) as paths:

        async def window_received() -> bool:
            return handler.attempts.total() == WINDOW

        await eventually(window_received)
        # otto-handler answers once the forwarder has been told to stop.
        asyncio.get_running_loop().call_soon(handler.answering.set)
    assert await _mark(paths) == WINDOW
    async with forwarding(tmp_path, handler, write=False) as paths:
        await eventually(lambda: _exists(paths.forwarded))
    assert handler.accepted[POD] == list(range(1, LINES + 1))


@asynccontextmanager
async def forwarding(
    log_dir: Path, handler: FakeOttoHandler, *, write: bool = True
) -> AsyncIterator[PodPaths]:
    """A forwarder with a window of WINDOW to handler, and a complete pod of LINES lines
    (written now unless write is False) in the archive at log_dir."""
    archive = Archive(log_dir)
    sinks = LogSinks(archive, LiveHub(), forward=True)
    meta = PodMeta(pod=POD, task_id="p1", pipeline_id="p1")
    async with serving(handler) as address:
        forwarder = LogForwarder(address, archive, sinks.hub, "default", window=WINDOW)
        async with forwarder.running():
            if write:
                pod = await sinks.open(meta)
                await pod.write(lines(1, LINES))
                await pod.complete()
            yield archive.paths(meta)


async def forward_all(log_dir: Path, handler: FakeOttoHandler) -> None:
    """Forwards the pod to handler until every line is settled."""
    async with forwarding(log_dir, handler) as paths:
        await eventually(lambda: _exists(paths.forwarded))


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


async def _mark(paths: PodPaths) -> int:
    return int(await asyncio.to_thread(paths.forward.read_text))
