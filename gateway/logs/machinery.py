"""The log machinery of one Ottoscaler process: the sinks the tail and agents write to,
the forwarder to otto-handler when OTTO_HANDLER_ADDR is set, and the archive's pruning
when LOG_RETENTION_DAYS is."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from activities.logs import Archive, LiveHub, LogSinks
from gateway.logs.forwarder import LogForwarder
from gateway.settings import Settings

log = logging.getLogger(__name__)
PRUNE_INTERVAL_SECONDS = 3600.0
DAY_SECONDS = 86_400


def log_sinks(settings: Settings) -> LogSinks:
    return LogSinks(
        Archive(settings.log_dir),
        LiveHub(),
        forward=bool(settings.otto_handler_addr),
        max_bytes_per_pod=settings.log_max_bytes_per_worker,
    )


@asynccontextmanager
async def forwarding(settings: Settings, sinks: LogSinks) -> AsyncIterator[None]:
    if not settings.otto_handler_addr or sinks.archive is None:
        yield
        return
    forwarder = LogForwarder(
        settings.otto_handler_addr,
        sinks.archive,
        sinks.hub,
        settings.namespace,
        window=settings.otto_handler_log_window,
    )
    async with forwarder.running():
        yield


@asynccontextmanager
async def pruning(settings: Settings, sinks: LogSinks) -> AsyncIterator[None]:
    """Prunes the archive at start, then every PRUNE_INTERVAL_SECONDS, while it runs."""
    if not settings.log_retention_days or sinks.archive is None:
        yield
        return
    # An archive of its own: the pruning thread never touches the serving one's cache.
    archive = Archive(sinks.archive.root)
    keep = settings.log_retention_days * DAY_SECONDS
    task = asyncio.create_task(_prune_forever(archive, keep))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def _prune_forever(archive: Archive, keep_seconds: float) -> None:
    while True:
        try:
            pruned = await asyncio.to_thread(archive.prune, time.time() - keep_seconds)
        except OSError:
            log.exception("log archive: pruning failed; trying again in an hour")
        else:
            if pruned:
                log.info(
                    "log archive: deleted %d expired tasks: %s", len(pruned), ", ".join(pruned)
                )
        await asyncio.sleep(PRUNE_INTERVAL_SECONDS)
