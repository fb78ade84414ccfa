"""Who writes or forwards a pod, across replicas: PostgreSQL session advisory locks.

The locks live on one connection of this process's own. When the process dies its
connection closes and the server releases every lock it held at once, so a crash never
leaves a pod held: another replica takes it over on its next look.
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
            connection = await self._connected()
            taken = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))
            if taken:
                self._held.add(key)
            return taken

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
        if self._held:
            # The server dropped the connection, and with it every lock held here. Writes
            # stay correct (each sequence is kept once); a forward may resend a few lines.
            log.warning(
                "lost the advisory locks of %d pods with the database connection", len(self._held)
            )
            self._held.clear()
        self._connection = await asyncpg.connect(self._url)
        return self._connection
