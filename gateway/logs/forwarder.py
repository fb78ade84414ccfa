"""The forwarder: every archived line to otto-handler's ForwardWorkerLogs, once.

It follows the archive, not the tail, so a slow or absent otto-handler never stalls a
worker: unsent lines wait on disk, not in memory. One stream per pod, which sends up to
`window` lines (OTTO_HANDLER_LOG_WINDOW, 1 by default) past the last settled one before
it waits for answers. Answers come in the order of the lines, so each answers the oldest
line in flight: ACK and DROP settle it; RETRY sends it again, first, once the answers to
the lines in flight with it are in (after throttle_ms, else after a growing pause); and
throttle_ms on any answer holds back the next line that long. A line sent after a
refused one goes again only if refused too, so with a window above 1 it may be accepted
first. A broken stream is reopened with backoff and every unsettled line sent again, in
order.

The pod's `.fwd` mark holds the sequence up to which every line is settled, committed as
soon as it moves; a restarted Ottoscaler resumes after it. A stopping forwarder waits
briefly for the answers to the lines in flight. A line reaches otto-handler twice only
when the forwarder cannot know it was accepted: a process killed while it is in flight,
a stream broken before its answer is read (grpcio drops unread answers once a write
meets the ended call), or a restart while a refused line holds the mark below it. That
is at most a window of lines each time, and every entry carries its sequence for
otto-handler to tell.

Pods are found by the hub (written in this process) and by scanning the archive (written
elsewhere, or before a restart). The `.fwd` mark is locked, so two Ottoscaler processes
sharing an archive never forward the same pod at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Protocol

import grpc
from grpc import aio
from opentelemetry.trace import Tracer

from activities.backoff import Backoff
from activities.logs import LiveHub, LogArchive, PodMeta
from activities.logs.outage import until_reachable
from activities.logs.store import ArchiveUnavailable, ForwardMark
from activities.tracing import client_tracing
from gateway.logs.wire import entry_to_wire, pod_metadata
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Status = pb.LogForwardResponse.Status


class ForwardCounts(Protocol):
    """What otto-handler made of the lines (the metrics)."""

    def forwarded(self, lag_seconds: float | None) -> None:
        """A line accepted, lag_seconds after it was printed (None: no time on it)."""

    def refused(self) -> None:
        """A line otto-handler answered DROP: it is not sent again."""


def _age(timestamp: str) -> float | None:
    if not timestamp:
        return None
    return (datetime.now(UTC) - datetime.fromisoformat(timestamp)).total_seconds()


class _Uncounted:
    def forwarded(self, lag_seconds: float | None) -> None:
        pass

    def refused(self) -> None:
        pass


# How often the archive is scanned for pods written by another process (this process's
# own pods are announced by the hub at once).
SCAN_SECONDS = 10.0
# The growing pause after a broken stream, and before refused lines go again.
FIRST_PAUSE_SECONDS = 0.05
MAX_PAUSE_SECONDS = 5.0
STOP_GRACE_SECONDS = 1.0
# What a broken stream raises: a failed call, or its end.
_BROKEN = (aio.AioRpcError, ConnectionError)


class _Call:
    """One ForwardWorkerLogs call. grpcio's own task writes the entries queued by send and
    a task of ours reads the answers as they come, so the forwarder only ever waits on
    queues: cancelling it never cancels the call, nor the answers to what is in flight."""

    def __init__(self, stub: pb_grpc.OttoHandlerLogServiceAsyncStub) -> None:
        self._entries: asyncio.Queue[pb.WorkerLogEntry | None] = asyncio.Queue()
        self._answers: asyncio.Queue[pb.LogForwardResponse | Exception] = asyncio.Queue()
        self._call = stub.ForwardWorkerLogs(self._outgoing())
        self._reading = asyncio.create_task(self._read())

    def send(self, entry: pb.WorkerLogEntry) -> None:
        self._entries.put_nowait(entry)

    async def answer(self) -> pb.LogForwardResponse:
        """The next answer; raises what broke the call instead once it broke."""
        answer = await self._answers.get()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self._call.cancel()
        self._reading.cancel()
        # Ends grpcio's writing task too, which cancel() leaves waiting once the call is over.
        self._entries.put_nowait(None)

    async def _outgoing(self) -> AsyncIterator[pb.WorkerLogEntry]:
        while (entry := await self._entries.get()) is not None:
            yield entry

    async def _read(self) -> None:
        try:
            async for answer in self._call:
                self._answers.put_nowait(answer)
            raise ConnectionError("otto-handler ended the stream")
        except _BROKEN as err:
            self._answers.put_nowait(err)


class _PodStream:
    """One pod's entries on their way to otto-handler, up to `window` of them sent past the
    mark, over a call opened on first use and again after a break.

    Every entry given is in exactly one of: `_to_send`, `_in_flight` (sent, unanswered),
    `_refused` (answered RETRY, waiting for the rest of its round), or settled. Each
    holds its entries in sequence order, and `_refused` < `_in_flight` < `_to_send`."""

    def __init__(
        self,
        stub: pb_grpc.OttoHandlerLogServiceAsyncStub,
        address: str,
        mark: ForwardMark,
        window: int,
        counts: ForwardCounts,
    ) -> None:
        self._stub = stub
        self._counts = counts
        self._address = address
        self._mark = mark
        self._window = window
        self._call: _Call | None = None
        self._to_send: deque[pb.WorkerLogEntry] = deque()
        self._in_flight: deque[pb.WorkerLogEntry] = deque()
        self._refused: list[pb.WorkerLogEntry] = []
        # Sequences given and not yet committed, in order; those of them already settled.
        self._uncommitted: deque[int] = deque()
        self._settled: set[int] = set()
        self._resume_at = 0.0  # loop time before which nothing is sent
        self._broken = Backoff(FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS)
        self._retried = Backoff(FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS)

    async def send(self, entries: Iterable[pb.WorkerLogEntry]) -> None:
        """Returns once every entry has been sent; up to `window` may await their answer."""
        for entry in entries:
            self._to_send.append(entry)
            self._uncommitted.append(entry.sequence)
        while self._to_send:
            await self._step()

    async def drain(self) -> None:
        """Returns once every entry is settled and committed."""
        while self._uncommitted:
            await self._step()

    async def settle(self) -> None:
        """The forwarder stops: otto-handler may have taken the entries in flight already,
        so their answers are awaited (briefly) and committed, lest they are sent again."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                while self._in_flight:
                    await self._read_answer()

    def close(self) -> None:
        if self._call is not None:
            self._call.close()
            self._call = None

    async def _step(self) -> None:
        """Reads an answer while the window is full, a round of answers after a RETRY is
        incomplete, or there is nothing to send; else sends the next entry."""
        if self._in_flight and (self._refused or not self._to_send or self._window_full()):
            await self._read_answer()
        elif self._refused:
            self._resend_refused()
        else:
            delay = self._resume_at - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._send_next()

    def _window_full(self) -> bool:
        # Every entry sent past the mark counts, not only those in flight: entries accepted
        # after a refused one wait for it in memory, and a restart would send them again.
        return len(self._uncommitted) - len(self._to_send) >= self._window

    def _send_next(self) -> None:
        entry = self._to_send.popleft()
        self._in_flight.append(entry)
        if self._call is None:
            self._call = _Call(self._stub)
        self._call.send(entry)

    async def _read_answer(self) -> None:
        assert self._call is not None  # entries in flight are on the open call
        try:
            settled = self._answered(await self._call.answer())
        except _BROKEN as err:
            self._break(err)
            return
        if settled is not None:
            await self._settle(settled)

    def _answered(self, response: pb.LogForwardResponse) -> int | None:
        """Takes an answer; returns the sequence it settled (None: to be sent again)."""
        entry = self._in_flight[0]
        # With one entry in flight the answer can only be its own; with more, an answer
        # naming another means the two sides no longer agree on the stream.
        if self._window > 1 and response.sequence not in (0, entry.sequence):
            raise ConnectionError(f"answer for #{response.sequence}, expected #{entry.sequence}")
        self._in_flight.popleft()
        self._broken.reset()
        if response.throttle_ms > 0:
            self._hold(response.throttle_ms / 1000)
        if response.status == Status.RETRY:
            self._refused.append(entry)
            return None
        self._retried.reset()
        if response.status == Status.DROP:
            log.debug("otto-handler dropped %s #%d", entry.worker_id, entry.sequence)
            self._counts.refused()
        else:
            self._counts.forwarded(_age(entry.timestamp))
        return entry.sequence

    async def _settle(self, sequence: int) -> None:
        """Commits the highest sequence up to which every entry is settled, if it moved."""
        self._settled.add(sequence)
        committed = None
        while self._uncommitted and self._uncommitted[0] in self._settled:
            committed = self._uncommitted.popleft()
            self._settled.remove(committed)
        if committed is not None:
            mark = self._mark
            await until_reachable(lambda: mark.commit(committed), "forwarding")

    def _resend_refused(self) -> None:
        """Every answer of the refused entries' round is in: they go again, first and in
        order, after the throttle_ms pending or else after the growing pause."""
        if self._resume_at <= asyncio.get_running_loop().time():
            self._hold(self._retried.failed())
        self._to_send.extendleft(reversed(self._refused))
        self._refused.clear()

    def _break(self, err: Exception) -> None:
        """Reopens the call after a growing pause; every unsettled entry goes again, in order."""
        self.close()
        if isinstance(err, aio.AioRpcError) and err.code() is grpc.StatusCode.UNIMPLEMENTED:
            log.warning("otto-handler at %s does not take logs", self._address)
        self._to_send.extendleft(reversed([*self._refused, *self._in_flight]))
        self._refused.clear()
        self._in_flight.clear()
        self._hold(self._broken.failed())

    def _hold(self, seconds: float) -> None:
        resume_at = asyncio.get_running_loop().time() + seconds
        self._resume_at = max(self._resume_at, resume_at)


class LogForwarder:
    def __init__(
        self,
        address: str,
        archive: LogArchive,
        hub: LiveHub,
        namespace: str,
        window: int = 1,
        idle_seconds: float = 0.5,
        counts: ForwardCounts | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        """idle_seconds: how often a quiet pod's archive is looked at, for lines the hub
        did not announce (written by a process whose writes this one does not hear of).
        tracer: a root span per stream opened (activities/tracing.py)."""
        self._tracer = tracer
        self._address = address
        self._counts = counts or _Uncounted()
        self._idle_seconds = idle_seconds
        self._archive = archive
        self._hub = hub
        self._namespace = namespace
        self._window = window
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LogForwarder]:
        tracing = client_tracing(self._tracer)
        async with aio.insecure_channel(self._address, interceptors=tracing) as channel:
            self._stub: pb_grpc.OttoHandlerLogServiceAsyncStub = pb_grpc.OttoHandlerLogServiceStub(
                channel
            )
            self._hub.watch(self._poke)
            scanning = asyncio.create_task(self._scan())
            try:
                yield self
            finally:
                self._hub.unwatch(self._poke)
                for task in [scanning, *self._tasks]:
                    task.cancel()
                await asyncio.gather(scanning, *self._tasks, return_exceptions=True)

    def _poke(self, meta: PodMeta, here: bool) -> None:
        """A pod changed. One written here is ours to forward unless another process
        holds it; one written elsewhere only wakes our forward of it, if we have one
        (its writer's process forwards it, or our scan takes it over)."""
        wakeup = self._wakeups.get(meta.pod)
        if wakeup is not None:
            wakeup.set()
        elif here:
            self._start(meta)

    def _start(self, meta: PodMeta) -> None:
        if meta.pod in self._wakeups:
            return
        self._wakeups[meta.pod] = asyncio.Event()
        # A context of its own: each stream is a root span, whichever task found the pod.
        task = asyncio.create_task(self._forward_pod(meta), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scan(self) -> None:
        while True:
            try:
                pending = await self._archive.pending_forwards()
            except ArchiveUnavailable as err:
                log.warning("forwarding: the log archive is unreachable (%s)", err)
                pending = []
            for meta in pending:
                self._start(meta)
            await asyncio.sleep(SCAN_SECONDS)

    async def _forward_pod(self, meta: PodMeta) -> None:
        try:
            mark = await self._archive.acquire_forward(meta)
            if mark is None:
                return  # finished, or another process forwards this pod
            try:
                await self._follow(meta, mark)
            finally:
                await mark.close()
        except Exception:
            log.exception("forwarding the logs of %s stopped", meta.pod)
        finally:
            self._wakeups.pop(meta.pod, None)

    async def _follow(self, meta: PodMeta, mark: ForwardMark) -> None:
        wakeup = self._wakeups[meta.pod]
        reader = self._archive.reader(meta)
        stream = _PodStream(self._stub, self._address, mark, self._window, self._counts)
        pod = pod_metadata(meta, self._namespace)
        try:
            while True:
                wakeup.clear()
                what = f"forwarding {meta.pod}"
                current = await until_reachable(lambda: self._archive.current(meta), what)
                current = current or meta
                # The reader moves on by itself: `after` only matters on the first read.
                lines = await until_reachable(lambda: reader.read(after=mark.position), what)
                if lines:
                    await stream.send(entry_to_wire(current, pod, line) for line in lines)
                    continue
                await stream.drain()
                if current.complete:
                    await until_reachable(mark.finish, what)
                    return
                # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancel.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._idle_seconds):
                        await wakeup.wait()
        except asyncio.CancelledError:
            await stream.settle()
            raise
        finally:
            stream.close()
