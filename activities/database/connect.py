"""Opening the database: a pool for queries, on a schema brought up to date first.

A replica may start while the database is down: it does not wait for it here. The pool
migrates the schema on each connection it opens, so the first one once the database
answers does it before any query runs; until then queries fail as unreachable, and the
callers wait as they do through any outage (health says NOT_SERVING meanwhile).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import asyncpg

from activities.database import unreachable
from activities.database.migrations import migrate

log = logging.getLogger(__name__)
POOL_SIZE = 10


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Hands a connection back as it is. asyncpg's default reset costs a round trip a
    query (UNLISTEN, advisory unlocks, RESET ALL), and pooled connections hold no session
    state: LISTEN and advisory locks have connections of their own, settings are SET
    LOCAL. An open transaction is still rolled back by the pool itself."""


class _MigrateOnce:
    """The pool's `init`: the first connection that answers migrates the schema; later
    ones (the pool opens them as it grows and after idle ones close) skip the round trips
    and the migration lock every replica's new connections would wait on."""

    def __init__(self) -> None:
        self._done = False

    async def __call__(self, connection: asyncpg.Connection) -> None:
        if not self._done:
            await migrate(connection)
            self._done = True


def where(url: str) -> str:
    """The database and server a libpq URL names, for the log: never its user or password."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2] or ",".join(parse_qs(parts.query).get("host", []))
    return f"{parts.path.lstrip('/') or '(default)'} at {host or 'localhost'}"


@asynccontextmanager
async def database(url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `url` (a libpq URL; `?host=/dir` for a unix socket), migrated at once when
    the database answers, else by its first connection once it does."""
    # No floor of open connections: while the database is down the pool would try to
    # restore it in the background, logging a traceback at each try.
    pool = await asyncpg.create_pool(
        url, min_size=0, max_size=POOL_SIZE, init=_MigrateOnce(), reset=_keep_session
    )
    try:
        try:
            async with pool.acquire():
                pass
        except Exception as err:
            if not unreachable(err):
                raise
            log.warning(
                "waiting for the database %s (%s); health reports NOT_SERVING until it "
                "answers and its schema is migrated",
                where(url),
                err,
            )
        yield pool
    finally:
        await pool.close()
