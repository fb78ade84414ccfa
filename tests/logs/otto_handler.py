"""A stand-in for otto-handler's OttoHandlerLogService, served over real gRPC on loopback.

It answers each forwarded entry as its script says (ACK, RETRY, DROP, throttle_ms, or
breaking the stream), in the order received, and records what it accepted, per pod, in
the order accepted, and the most entries it held unanswered at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import grpc
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

Status = pb.LogForwardResponse.Status
BREAK = pb.LogForwardResponse(message="break the stream")
# Answers an entry, given how many times this entry has arrived (1 = first).
Script = Callable[[pb.WorkerLogEntry, int], pb.LogForwardResponse]


def ack(entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
    return pb.LogForwardResponse(status=Status.ACK, sequence=entry.sequence)


class FakeOttoHandler(pb_grpc.OttoHandlerLogServiceServicer):
    def __init__(self, script: Script = ack) -> None:
        self.script = script
        self.accepted: dict[str, list[int]] = defaultdict(list)
        # Every entry as it arrived, repeats included.
        self.received: list[pb.WorkerLogEntry] = []
        self.attempts: Counter[tuple[str, int]] = Counter()
        self.arrivals: dict[tuple[str, int], float] = {}
        # The most entries of one stream received and not answered yet at any time: more
        # than 1 only when the sender sends ahead of the answers and they queue here
        # (answering is slower than receiving, as with `answering` cleared).
        self.most_unanswered = 0
        # Cleared: entries arrive but are not answered, as from an overloaded otto-handler.
        self.answering = asyncio.Event()
        self.answering.set()
        # (RPC, the call's W3C traceparent metadata or ""), per call, as they came.
        self.traceparents: list[tuple[str, str]] = []

    def _called(self, rpc: str, context: Any) -> None:
        metadata = dict(context.invocation_metadata() or ())
        self.traceparents.append((rpc, str(metadata.get("traceparent", ""))))

    async def ForwardWorkerLogs(
        self, request_iterator: AsyncIterator[pb.WorkerLogEntry], context: Any
    ) -> AsyncIterator[pb.LogForwardResponse]:
        self._called("ForwardWorkerLogs", context)
        # Entries are received as they come and answered one by one, in order.
        arrived: asyncio.Queue[tuple[pb.WorkerLogEntry, int] | None] = asyncio.Queue()
        receiving = asyncio.create_task(self._receive(request_iterator, arrived))
        try:
            while (item := await arrived.get()) is not None:
                entry, attempt = item
                await self.answering.wait()
                # Received and not answered: this one and those queued behind it.
                self.most_unanswered = max(self.most_unanswered, 1 + arrived.qsize())
                answer = self.script(entry, attempt)
                if answer is BREAK:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "otto-handler restarts")
                if answer.status == Status.ACK:
                    self.accepted[entry.worker_id].append(entry.sequence)
                yield answer
        finally:
            receiving.cancel()

    async def _receive(
        self,
        entries: AsyncIterator[pb.WorkerLogEntry],
        arrived: asyncio.Queue[tuple[pb.WorkerLogEntry, int] | None],
    ) -> None:
        try:
            async for entry in entries:
                key = (entry.worker_id, entry.sequence)
                self.received.append(entry)
                self.attempts[key] += 1
                self.arrivals[key] = asyncio.get_running_loop().time()
                arrived.put_nowait((entry, self.attempts[key]))
        finally:
            arrived.put_nowait(None)

    async def NotifyWorkerStatus(
        self, request: pb.WorkerStatusNotification, context: Any
    ) -> pb.WorkerStatusAck:
        self._called("NotifyWorkerStatus", context)
        return pb.WorkerStatusAck(status=pb.WorkerStatusAck.Status.RECEIVED)


@asynccontextmanager
async def serving(handler: FakeOttoHandler) -> AsyncIterator[str]:
    server = aio.server()
    pb_grpc.add_OttoHandlerLogServiceServicer_to_server(handler, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


@contextmanager
def served_from_a_thread() -> Iterator[tuple[FakeOttoHandler, str]]:
    """The stand-in and its address, served by an event loop of its own in a thread, for
    synchronous tests. Read what it recorded once it is quiet (or poll with copies)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started: Future[tuple[FakeOttoHandler, str]] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        handler = FakeOttoHandler()
        async with serving(handler) as address:
            started.set_result((handler, address))
            await stop.wait()

    served = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield started.result(timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        served.result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
