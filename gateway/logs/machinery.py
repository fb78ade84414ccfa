"""The log machinery of one Ottoscaler process: the sinks the tail and agents write to
(the archive in files, or in PostgreSQL when OTTOSCALER_DATABASE_URL is set), the
forwarder to otto-handler when OTTO_HANDLER_ADDR is set, and the archive's pruning when
LOG_RETENTION_DAYS is."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry.trace import Tracer

from activities.background import in_background
from activities.database.connect import database
from activities.logs import Archive, LiveHub, LogArchive, LogSinks
from activities.logs.postgres.archive import PostgresArchive
from activities.logs.postgres.locks import AdvisoryLocks
from activities.logs.postgres.notices import NoticeListener
from activities.logs.sinks import LineCounts
from activities.logs.store import ArchiveUnavailable
from gateway.logs.forwarder import ForwardCounts, LogForwarder
from gateway.settings import Settings

log = logging.getLogger(__name__)
PRUNE_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86_400
# With PostgreSQL, replicas notify each other of every write; a reader still looks at the
# archive this often, in case a notice was lost.
NOTIFIED_POLL_SECONDS = 10.0


@asynccontextmanager
async def log_sinks(
    settings: Settings, counts: LineCounts | None = None
) -> AsyncIterator[tuple[LogSinks, NoticeListener | None]]:
    """The sinks, and with PostgreSQL the notice listener, whose connection says whether
    the database answers (the gateway's health follows it). counts: told of every line."""
    url = settings.database_url
    hub = LiveHub()
    if url is None:
        files = Archive(settings.log_dir)
        yield _sinks(settings, files, hub, settings.log_poll_seconds, counts), None
        return
    origin = uuid.uuid4().hex
    locks = AdvisoryLocks(url)
    async with database(url) as pool, NoticeListener(url, origin, hub).running() as notices:
        try:
            archive = PostgresArchive(pool, locks, origin)
            yield _sinks(settings, archive, hub, NOTIFIED_POLL_SECONDS, counts), notices
        finally:
            await locks.close()


def _sinks(
    settings: Settings, archive: LogArchive, hub: LiveHub, poll: float, counts: LineCounts | None
) -> LogSinks:
    return LogSinks(
        archive,
        hub,
        forward=bool(settings.otto_handler_addr),
        max_bytes_per_pod=settings.log_max_bytes_per_worker,
        poll_seconds=poll,
        counts=counts,
    )


@asynccontextmanager
async def forwarding(
    settings: Settings,
    sinks: LogSinks,
    counts: ForwardCounts | None = None,
    tracer: Tracer | None = None,
) -> AsyncIterator[None]:
    if not settings.otto_handler_addr or sinks.archive is None:
        yield
        return
    forwarder = LogForwarder(
        settings.otto_handler_addr,
        sinks.archive,
        sinks.hub,
        settings.namespace,
        window=settings.otto_handler_log_window,
        idle_seconds=sinks.poll_seconds,
        counts=counts,
        tracer=tracer,
    )
    async with forwarder.running():
        yield


@asynccontextmanager
async def pruning(settings: Settings, sinks: LogSinks) -> AsyncIterator[None]:
    """Prunes the archive at start, then every PRUNE_INTERVAL_SECONDS, while it runs."""
    if not settings.log_retention_days or sinks.archive is None:
        yield
        return
    keep = settings.log_retention_days * DAY_SECONDS
    async with in_background(_prune_forever(sinks.archive, keep)):
        yield


async def _prune_forever(archive: LogArchive, keep_seconds: float) -> None:
    while True:
        try:
            pruned = await archive.prune(time.time() - keep_seconds)
        except ArchiveUnavailable as err:
            log.warning("log archive: pruning waits an hour: %s", err)
        except OSError:
            log.exception("log archive: pruning failed; trying again in an hour")
        else:
            if pruned:
                log.info(
                    "log archive: deleted %d expired tasks: %s", len(pruned), ", ".join(pruned)
                )
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
