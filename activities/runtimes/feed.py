"""Keeping a mirror of a runtime's change feed: whoever mirrors it (the worker status
cache, the capacity ledger) applies every event, and subscribes again when the feed ends
or fails, the new SNAPSHOT replacing what it had."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping

from activities.background import in_background
from activities.runtimes.protocol import WorkerEvent, WorkerRuntime

log = logging.getLogger(__name__)

RESUBSCRIBE_DELAY_SECONDS = 1.0


@contextlib.asynccontextmanager
async def mirroring(
    runtime: WorkerRuntime, labels: Mapping[str, str], apply: Callable[[WorkerEvent], None]
) -> AsyncIterator[None]:
    """Applies the feed of the workers with these labels while the context is open."""
    async with in_background(_mirror(runtime, labels, apply)):
        yield


async def _mirror(
    runtime: WorkerRuntime, labels: Mapping[str, str], apply: Callable[[WorkerEvent], None]
) -> None:
    while True:
        try:
            async with contextlib.aclosing(runtime.watch(labels)) as events:
                async for event in events:
                    apply(event)
            log.warning("the worker change feed ended; subscribing again")
        except Exception:
            log.exception("the worker change feed failed; subscribing again")
        await asyncio.sleep(RESUBSCRIBE_DELAY_SECONDS)
