"""MAX_WORKERS counted in this process (WorkerCapacity, protocol.py).

Live workers come from the runtime's change feed: every managed worker that is pending
or running, pools' and pipelines' alike. Reservations are what the feed cannot show yet:
a ScaleUp in flight (a number: its names are not known before the pool makes them), and
each pipeline worker from before its create to after its delete (by name). A name both
live and reserved counts once, so a retried run_worker finds room for its own worker.

Pipeline workers queue for room in arrival order; room that frees (a release, a worker
the feed reports ended or gone) goes to the head of the queue at once, so a ScaleUp never
takes room a waiting worker was next for.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from activities.capacity.protocol import NoRoom, Reservation, RoomAborted, until_synced
from activities.runtimes.feed import mirroring
from activities.runtimes.protocol import WorkerEvent, WorkerEventKind, WorkerRuntime
from workflows.workers.spec import MANAGED_BY, Labels, WorkerPhase

LIVE = frozenset({WorkerPhase.PENDING, WorkerPhase.RUNNING})
# A worker a ScaleUp created stays counted until the feed reports it; if the feed never
# does (it was deleted during a gap, then resynced), this long at most.
UNSEEN_SECONDS = 60.0
# An aborted name is remembered this long, for a run_worker that starts after its delete.
ABORTED_SECONDS = 600.0


class WorkerLedger:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: set[str] = set()  # every worker the feed reports
        self._live: set[str] = set()  # those of them pending or running
        self._held: set[str] = set()  # named reservations
        self._unseen: dict[str, asyncio.TimerHandle] = {}  # held until the feed reports them
        self._batches = 0  # ScaleUps' workers in flight
        self._queue: deque[tuple[str, asyncio.Future[None]]] = deque()
        self._aborted: set[str] = set()
        self._synced = asyncio.Event()

    @asynccontextmanager
    async def following(self, runtime: WorkerRuntime) -> AsyncIterator[WorkerLedger]:
        async with mirroring(runtime, {Labels.MANAGED_BY: MANAGED_BY}, self.apply):
            yield self

    def in_use(self) -> int:
        reserved = sum(1 for name in self._held if name not in self._live)
        return len(self._live) + reserved + self._batches

    def apply(self, event: WorkerEvent) -> None:
        """One event of the runtime's change feed."""
        if event.kind is WorkerEventKind.SNAPSHOT:
            self._known.clear()
            self._live.clear()
        for info in event.workers:
            if event.kind is WorkerEventKind.DELETE:
                self._known.discard(info.name)
                self._live.discard(info.name)
            else:
                self._known.add(info.name)
                if info.phase in LIVE:
                    self._live.add(info.name)
                else:
                    self._live.discard(info.name)
            self._seen(info.name)
        self._synced.set()
        self._admit()

    async def take(self, count: int) -> Reservation:
        await until_synced(self._synced)
        in_use = self.in_use()
        if in_use + count > self.limit:
            raise NoRoom(self.limit, in_use)
        self._batches += count
        return _Reservation(functools.partial(self.batch_ended, count))

    async def wait(self, name: str) -> Reservation:
        await self._synced.wait()
        if name in self._aborted:
            raise RoomAborted(f"worker {name!r} is being deleted")
        if name in self._live or name in self._held:
            self._held.add(name)
        else:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._queue.append((name, granted))
            self._admit()
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled() and granted.exception() is None:
                    self.unhold(name)  # granted, but its waiter is gone
                granted.cancel()
                raise
        return _Reservation(lambda created: self.unhold(name))

    async def abort(self, name: str) -> None:
        self._aborted.add(name)
        asyncio.get_running_loop().call_later(ABORTED_SECONDS, self._aborted.discard, name)
        for waiting, granted in self._queue:
            if waiting == name and not granted.done():
                granted.set_exception(RoomAborted(f"worker {name!r} is being deleted"))
        # Its room is free once the feed no longer reports it live, even before the
        # activity that reserved it hears of its cancel.
        self.unhold(name)

    def _admit(self) -> None:
        """Hands free room to the queue's head, in order."""
        while self._queue:
            name, granted = self._queue[0]
            if granted.done():  # cancelled or aborted
                self._queue.popleft()
                continue
            if name not in self._live and self.in_use() >= self.limit:
                return
            self._queue.popleft()
            self._held.add(name)
            granted.set_result(None)

    def unhold(self, name: str) -> None:
        """Ends the named reservation (a second time is nothing)."""
        self._held.discard(name)
        timer = self._unseen.pop(name, None)
        if timer is not None:
            timer.cancel()
        self._admit()

    def batch_ended(self, count: int, created: Sequence[str]) -> None:
        """A ScaleUp's workers are made: `created` stay counted until the feed reports them."""
        self._batches -= count
        loop = asyncio.get_running_loop()
        for name in created:
            if name not in self._known and name not in self._held:
                self._held.add(name)
                self._unseen[name] = loop.call_later(UNSEEN_SECONDS, self.unhold, name)
        self._admit()

    def _seen(self, name: str) -> None:
        if name in self._unseen:
            self.unhold(name)


class _Reservation:
    """Room until released: a pipeline worker's from before its create to after its
    delete, a ScaleUp's while its pool creates the workers. Released once."""

    def __init__(self, release: Callable[[Sequence[str]], None]) -> None:
        self._release: Callable[[Sequence[str]], None] | None = release

    async def release(self, created: Sequence[str] = ()) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(created)


class Unlimited:
    """No MAX_WORKERS: for a Temporal worker run without the gateway (tests, benchmarks)."""

    limit = sys.maxsize

    async def take(self, count: int) -> Reservation:
        return _Reservation(_nothing)

    async def wait(self, name: str) -> Reservation:
        return _Reservation(_nothing)

    async def abort(self, name: str) -> None:
        return None


def _nothing(created: Sequence[str]) -> None:
    return None
