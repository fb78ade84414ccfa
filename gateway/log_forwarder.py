"""The forwarder: every archived line to otto-handler's ForwardWorkerLogs, once, in order.

It follows the archive, not the tail, so a slow or absent otto-handler never stalls a
worker: unsent lines wait on disk, not in memory. One stream per pod and one line in
flight per pod, so that a RETRY cannot reorder lines: ACK moves on, DROP skips the line,
RETRY sends it again (after throttle_ms, else after a growing pause), and throttle_ms on
any answer waits that long before the next line. A broken stream is reopened with backoff
and resumes after the last acknowledged line. That line is committed to the pod's `.fwd`
mark as soon as it is acknowledged, and a restarted Ottoscaler resumes from the mark. A
stopping forwarder waits for the answer to the line in flight; only a process killed
while a line is in flight (about a round trip) may send that line again, and every entry
carries its sequence for otto-handler to tell.

Pods are found by the hub (written in this process) and by scanning the archive (written
elsewhere, or before a restart). The `.fwd` mark is locked, so two Ottoscaler processes
sharing an archive never forward the same pod at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from grpc import aio

from activities.log_sinks import Archive, LiveHub, PodMeta
from activities.log_sinks.pod_files import ForwardMark
from gateway.log_wire import entry_to_wire, pod_metadata
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Status = pb.LogForwardResponse.Status
# How often the archive is scanned for pods written by another process (this process's
# own pods are announced by the hub at once).
SCAN_SECONDS = 10.0
IDLE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 5.0
STOP_GRACE_SECONDS = 1.0


class _Pause:
    """A growing pause between attempts: 50 ms doubling to MAX_PAUSE_SECONDS."""

    def __init__(self) -> None:
        self._next = 0.05

    async def wait(self) -> None:
        await asyncio.sleep(self._next)
        self._next = min(self._next * 2, MAX_PAUSE_SECONDS)

    def reset(self) -> None:
        self._next = 0.05


class _PodStream:
    """One pod's ForwardWorkerLogs call, opened on first use and after a break."""

    def __init__(self, stub: pb_grpc.OttoHandlerLogServiceAsyncStub) -> None:
        self._stub = stub
        self._call: aio.StreamStreamCall[pb.WorkerLogEntry, pb.LogForwardResponse] | None = None

    async def send(self, entry: pb.WorkerLogEntry) -> pb.LogForwardResponse:
        if self._call is None:
            self._call = self._stub.ForwardWorkerLogs()
        await self._call.write(entry)
        response = await self._call.read()
        if response is aio.EOF:
            raise ConnectionError("otto-handler ended the stream")
        assert isinstance(response, pb.LogForwardResponse)
        return response

    def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None


class LogForwarder:
    def __init__(self, address: str, archive: Archive, hub: LiveHub, namespace: str) -> None:
        self._address = address
        self._archive = archive
        self._hub = hub
        self._namespace = namespace
        self._wakeups: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LogForwarder]:
        async with aio.insecure_channel(self._address) as channel:
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

    def _poke(self, meta: PodMeta) -> None:
        wakeup = self._wakeups.get(meta.pod)
        if wakeup is None:
            self._start(meta)
        else:
            wakeup.set()

    def _start(self, meta: PodMeta) -> None:
        if meta.pod in self._wakeups:
            return
        self._wakeups[meta.pod] = asyncio.Event()
        task = asyncio.create_task(self._forward_pod(meta))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _scan(self) -> None:
        while True:
            for meta in self._archive.pending_forwards():
                self._start(meta)
            await asyncio.sleep(SCAN_SECONDS)

    async def _forward_pod(self, meta: PodMeta) -> None:
        try:
            mark = self._archive.acquire_forward(meta)
            if mark is None:
                return  # finished, or another process forwards this pod
            try:
                await self._follow(meta, mark)
            finally:
                mark.close()
        except Exception:
            log.exception("forwarding the logs of %s stopped", meta.pod)
        finally:
            self._wakeups.pop(meta.pod, None)

    async def _follow(self, meta: PodMeta, mark: ForwardMark) -> None:
        wakeup = self._wakeups[meta.pod]
        reader = self._archive.reader(meta)
        stream = _PodStream(self._stub)
        pod = pod_metadata(meta, self._namespace)
        try:
            while True:
                wakeup.clear()
                current = self._archive.current(meta) or meta
                lines = reader.read(after=mark.position)
                for line in lines:
                    await self._deliver(stream, entry_to_wire(current, pod, line), mark)
                if lines:
                    continue
                if current.complete:
                    self._archive.finish_forward(mark, current)
                    return
                # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancel.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_SECONDS):
                        await wakeup.wait()
        finally:
            stream.close()

    async def _deliver(
        self, stream: _PodStream, entry: pb.WorkerLogEntry, mark: ForwardMark
    ) -> None:
        """Returns once otto-handler acknowledged or dropped the entry, committed to mark."""
        broken, retried = _Pause(), _Pause()
        while True:
            exchange = asyncio.ensure_future(stream.send(entry))
            try:
                response = await asyncio.shield(exchange)
            except asyncio.CancelledError:
                await _settle(exchange, entry, mark)
                raise
            except (aio.AioRpcError, ConnectionError) as err:
                stream.close()
                if isinstance(err, aio.AioRpcError) and err.code() is grpc.StatusCode.UNIMPLEMENTED:
                    log.warning("otto-handler at %s does not take logs", self._address)
                await broken.wait()
                continue
            broken.reset()
            if response.status != Status.RETRY:
                mark.commit(entry.sequence)
                if response.status == Status.DROP:
                    log.debug("otto-handler dropped %s #%d", entry.worker_id, entry.sequence)
            if response.throttle_ms > 0:
                await asyncio.sleep(response.throttle_ms / 1000)
            if response.status != Status.RETRY:
                return
            if response.throttle_ms <= 0:
                await retried.wait()


async def _settle(
    exchange: asyncio.Future[pb.LogForwardResponse], entry: pb.WorkerLogEntry, mark: ForwardMark
) -> None:
    """The forwarder stops mid-exchange: otto-handler may have taken the line already, so
    its answer is awaited (briefly) and committed, lest the next forwarder send it again."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(STOP_GRACE_SECONDS):
            response = await exchange
        if response.status != Status.RETRY:
            mark.commit(entry.sequence)
