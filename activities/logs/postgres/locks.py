"""Who writes or forwards a pod, across replicas: PostgreSQL session advisory locks.

The locks live on one connection of this process's own. When the process dies its
connection closes and the server releases every lock it held at once, so a crash never
leaves a pod held: another replica takes it over on its next look. When the connection
drops while the process lives (the database restarted), the locks are gone too: on the
next call the process connects again and takes back what it held, unless another replica
was quicker; what it lost, `holds` says no more.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from enum import StrEnum

import asyncpg

log = logging.getLogger(__name__)


class Hold(StrEnum):
    WRITE = "write"
    FORWARD = "forward"


def lock_key(hold: Hold, task_id: str, pod: str) -> int:
    """A signed 64-bit key, as pg_advisory_lock takes, for this hold on this pod."""
    digest = hashlib.sha256(f"{hold}\0{task_id}\0{pod}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLocks:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: asyncpg.Connection | None = None
        self._held: set[int] = set()
        self._guard = asyncio.Lock()

    async def try_hold(self, key: int) -> bool:
        async with self._guard:
            taken = await self._take(await self._connected(), key)
            if taken:
                self._held.add(key)
            return taken

    async def holds(self, key: int) -> bool:
        """Whether this process still holds the key, connecting again (and taking back
        what it held) if its connection dropped."""
        async with self._guard:
            await self._connected()
            return key in self._held

    async def release(self, key: int) -> None:
        async with self._guard:
            if key not in self._held:
                return
            self._held.discard(key)
            connection = self._connection
            if connection is not None and not connection.is_closed():
                await connection.execute("SELECT pg_advisory_unlock($1)", key)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _connected(self) -> asyncpg.Connection:
        connection = self._connection
        if connection is not None and not connection.is_closed():
            return connection
        self._connection = connection = await asyncpg.connect(self._url)
        lost = {key for key in self._held if not await self._take(connection, key)}
        if lost:
            log.warning(
                "the log database connection dropped; %d pods were taken over meanwhile",
                len(lost),
            )
        self._held -= lost
        return connection

    @staticmethod
    async def _take(connection: asyncpg.Connection, key: int) -> bool:
        return bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
