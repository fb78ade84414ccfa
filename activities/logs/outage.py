"""Riding out an archive outage: a log waits for its store, it never fails its worker.

Only ArchiveUnavailable is waited out (a database restarting, say); HoldLost is not,
since another replica has the pod then, and nothing else is ever retried here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from activities.backoff import Backoff
from activities.logs.store import ArchiveUnavailable, HoldLost

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_PAUSE_SECONDS = 0.2
LONGEST_PAUSE_SECONDS = 5.0


async def until_reachable(call: Callable[[], Awaitable[T]], what: str) -> T:
    """call() until the archive answers; `what` names the work in the log."""
    backoff = Backoff(FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS)
    while True:
        try:
            result = await call()
        except HoldLost:
            raise
        except ArchiveUnavailable as err:
            if not backoff.failures:
                log.warning("%s waits for the log archive: %s", what, err)
            await asyncio.sleep(backoff.failed())
            continue
        if backoff.failures:
            log.info("%s: the log archive answers again", what)
        return result
