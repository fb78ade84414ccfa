"""How a pipeline stream rides out a slow or unreachable Temporal.

Under load a progress query can outlast its timeout; during an outage every call fails.
Neither stops the pipeline, so neither ends its stream at once: a call that failed with a
transient error (gateway/errors.py) is tried again after a backoff pause, for up to
`retry_seconds`. Past that the stream ends UNAVAILABLE, and its message says how to
re-attach: WatchPipeline or ExecutePipeline with the same pipeline id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from activities.backoff import Backoff
from gateway.errors import Unavailable, temporal_transient

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0


@dataclass(frozen=True)
class Patience:
    """query_timeout: how long one progress query may take; retry_seconds: how long a call
    that keeps failing transiently is tried again."""

    query_timeout: timedelta
    retry_seconds: float

    async def retried(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """call(), tried again while it fails transiently and retry_seconds allow."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.retry_seconds
        backoff = Backoff(FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS)
        while True:
            try:
                return await call()
            except Exception as err:
                pause = backoff.failed()
                if not temporal_transient(err) or loop.time() + pause > give_up:
                    raise
                log.warning("%s: %s; trying again in %.1fs", what, err, pause)
            await asyncio.sleep(pause)


@contextmanager
def reattach_hint(pipeline_id: str) -> Iterator[None]:
    """A transient error that ends a stream becomes UNAVAILABLE saying how to re-attach."""
    try:
        yield
    except Exception as err:
        if not temporal_transient(err):
            raise
        raise Unavailable(
            f"temporal did not answer: {err}; to re-attach, call WatchPipeline or "
            f"ExecutePipeline again with pipeline_id {pipeline_id!r} (a running pipeline "
            "is attached to, never started twice)"
        ) from err
