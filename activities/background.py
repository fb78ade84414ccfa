"""A task that runs while a context is open, and is cancelled and awaited when it closes.

It sits here, outside the subpackages, like backoff.py: the runtimes' feeds, the log
database's listener and the gateway's watchers all run one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    task = asyncio.create_task(work)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
