"""Opening the database: a pool for queries, the schema brought up to date first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from activities.database.migrations import migrate

POOL_SIZE = 10


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Hands a connection back as it is. asyncpg's default reset costs a round trip a
    query (UNLISTEN, advisory unlocks, RESET ALL), and pooled connections hold no session
    state: LISTEN and advisory locks have connections of their own, settings are SET
    LOCAL. An open transaction is still rolled back by the pool itself."""


@asynccontextmanager
async def database(url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `url` (a libpq URL; `?host=/dir` for a unix socket), migrated."""
    # No floor of open connections: while the database is down the pool would try to
    # restore it in the background, logging a traceback at each try.
    pool = await asyncpg.create_pool(url, min_size=0, max_size=POOL_SIZE, reset=_keep_session)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
        yield pool
    finally:
        await pool.close()
