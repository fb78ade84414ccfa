"""MAX_WORKERS across replicas (WorkerCapacity, protocol.py), kept in PostgreSQL.

Live workers come from the runtime's change feed, which on Kubernetes every replica sees
whole. What the feed cannot show yet (a ScaleUp's workers being created, a pipeline
worker from before its create) is a claim: a row of worker_room, written by this
replica's own connection and naming that connection's backend pid. Claims of a replica
that died count for nothing from the moment its connection closed, so a crash cannot
leak room. Every decision runs in one transaction under an advisory lock, so replicas
take room one at a time and together never pass the limit.

A pipeline worker that finds no room waits for a claim to end (a NOTIFY on ROOM_CHANNEL)
or the feed to change, looking again at least every RECHECK_SECONDS. Within a replica
waiters keep their order; across replicas the first to look after room frees gets it.
On the local and mock runtimes each replica's feed shows only its own workers: there the
limit holds per replica, plus the claims of all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg

from activities.capacity.protocol import NoRoom, Reservation, RoomAborted, until_synced
from activities.database.migrations import migrate
from activities.runtimes.feed import mirroring
from activities.runtimes.protocol import WorkerEvent, WorkerEventKind, WorkerRuntime
from workflows.workers.spec import MANAGED_BY, Labels, WorkerPhase

LIVE = frozenset({WorkerPhase.PENDING, WorkerPhase.RUNNING})
ROOM_CHANNEL = "ottoscaler_room"
ROOM_LOCK = 0x726F6F6D  # "room"
RECHECK_SECONDS = 2.0
# A created worker stays claimed until the feed reports it, this long at most.
UNSEEN_SECONDS = 60.0
ABORTED_SECONDS = 600.0

_IN_USE = """
    SELECT coalesce(sum(count), 0) FROM worker_room
    WHERE holder IN (SELECT pid FROM pg_stat_activity) AND NOT (name = ANY($1::text[]))
"""


class SharedCapacity:
    def __init__(self, limit: int, url: str) -> None:
        self.limit = limit
        self._url = url
        self._live: set[str] = set()
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._claims: dict[str, int] = {}  # this replica's claims, to restore on reconnect
        self._aborted: set[str] = set()
        self.waiting: set[str] = set()  # workers that found no room and wait for some
        self._unseen: set[str] = set()  # a ScaleUp's workers the feed has not reported yet
        self._ending: set[asyncio.Task[None]] = set()
        self._connection: asyncpg.Connection | None = None
        self._guard = asyncio.Lock()

    @asynccontextmanager
    async def following(self, runtime: WorkerRuntime) -> AsyncIterator[SharedCapacity]:
        async with mirroring(runtime, {Labels.MANAGED_BY: MANAGED_BY}, self.apply):
            try:
                yield self
            finally:
                await self.close()

    async def close(self) -> None:
        """Closes the connection: every claim of this replica counts for nothing now."""
        if self._connection is not None:
            await self._connection.close()

    def apply(self, event: WorkerEvent) -> None:
        if event.kind is WorkerEventKind.SNAPSHOT:
            self._live.clear()
        for info in event.workers:
            if event.kind is WorkerEventKind.DELETE or info.phase not in LIVE:
                self._live.discard(info.name)
            else:
                self._live.add(info.name)
            if info.name in self._unseen:  # a ScaleUp's worker, reported at last
                self._end_soon(info.name)
        self._synced.set()
        self._changed.set()

    async def take(self, count: int) -> Reservation:
        await until_synced(self._synced)
        claim = f"batch:{uuid.uuid4().hex}"
        in_use = await self._claim(claim, count, always=False)
        if in_use is not None:
            raise NoRoom(self.limit, in_use)
        return _Reservation(lambda created: self._batch_ended(claim, created))

    async def wait(self, name: str) -> Reservation:
        await self._synced.wait()
        while True:
            if name in self._aborted:
                raise RoomAborted(f"worker {name!r} is being deleted")
            self._changed.clear()
            if await self._claim(name, 1, always=name in self._live) is None:
                self.waiting.discard(name)
                return _Reservation(lambda created: self._end(name))
            self.waiting.add(name)
            try:
                async with asyncio.timeout(RECHECK_SECONDS):
                    await self._changed.wait()
            except TimeoutError:
                pass
            except asyncio.CancelledError:
                self.waiting.discard(name)
                raise

    async def abort(self, name: str) -> None:
        self._aborted.add(name)
        asyncio.get_running_loop().call_later(ABORTED_SECONDS, self._aborted.discard, name)
        self._changed.set()
        await self._end(name)

    async def _claim(self, name: str, count: int, *, always: bool) -> int | None:
        """Claims room for `count` under `name` (kept if it is claimed already); returns
        None when claimed, else the room in use that refused it."""
        async with self._guard:
            connection = await self._connected()
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock($1)", ROOM_LOCK)
                await connection.execute(
                    "DELETE FROM worker_room WHERE holder NOT IN (SELECT pid FROM pg_stat_activity)"
                )
                mine = name in self._claims
                if not always and not mine:
                    in_use = len(self._live) + int(
                        await connection.fetchval(_IN_USE, list(self._live))
                    )
                    if in_use + count > self.limit:
                        return in_use
                await connection.execute(
                    "INSERT INTO worker_room VALUES ($1, $2, pg_backend_pid())"
                    " ON CONFLICT (name) DO UPDATE SET holder = pg_backend_pid()",
                    name,
                    count,
                )
            self._claims[name] = count
            return None

    async def _end(self, name: str) -> None:
        self._unseen.discard(name)
        if self._claims.pop(name, None) is None:
            return
        async with self._guard:
            connection = await self._connected()
            await connection.execute("DELETE FROM worker_room WHERE name = $1", name)
            await connection.execute("SELECT pg_notify($1, $2)", ROOM_CHANNEL, name)

    async def _batch_ended(self, claim: str, created: Sequence[str]) -> None:
        """A ScaleUp's workers are made: each stays claimed until the feed reports it."""
        for name in created:
            if name not in self._live:
                await self._claim(name, 1, always=True)
                self._unseen.add(name)
                asyncio.get_running_loop().call_later(UNSEEN_SECONDS, self._end_soon, name)
        await self._end(claim)

    def _end_soon(self, name: str) -> None:
        """Ends a claim from a callback; the task is kept until it is done."""
        if name not in self._claims:
            return
        task = asyncio.get_running_loop().create_task(self._end(name))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _connected(self) -> asyncpg.Connection:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        connection = await asyncpg.connect(self._url)
        await migrate(connection)  # a replica that started while the database was down
        await connection.add_listener(ROOM_CHANNEL, self._heard)
        # A new connection is a new holder: this replica's claims are written again. A copy:
        # claims end (outside the guard) while these writes wait.
        for name, count in list(self._claims.items()):
            await connection.execute(
                "INSERT INTO worker_room VALUES ($1, $2, pg_backend_pid())"
                " ON CONFLICT (name) DO UPDATE SET holder = pg_backend_pid()",
                name,
                count,
            )
        self._connection = connection
        return connection

    def _heard(self, *_: object) -> None:
        self._changed.set()


class _Reservation:
    """Released once: ends the claim (a ScaleUp's: after claiming what it created)."""

    def __init__(self, release: Callable[[Sequence[str]], Awaitable[None]]) -> None:
        self._release: Callable[[Sequence[str]], Awaitable[None]] | None = release

    async def release(self, created: Sequence[str] = ()) -> None:
        release, self._release = self._release, None
        if release is not None:
            await release(created)
