"""Where an activity meets a runtime: its errors become ApplicationError with a deliberate
non_retryable, and long calls heartbeat so that a crashed Ottoscaler is noticed in seconds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.runtimes.protocol import RuntimeFailure

T = TypeVar("T")
HEARTBEAT_EVERY_SECONDS = 5.0


async def runtime_boundary(call: Awaitable[T]) -> T:
    """Turns a RuntimeFailure into an ApplicationError whose non_retryable is deliberate."""
    try:
        return await call
    except RuntimeFailure as err:
        raise ApplicationError(
            str(err), type=type(err).__name__, non_retryable=not err.retryable
        ) from err


async def heartbeating(call: Awaitable[T]) -> T:
    """Awaits call while heartbeating, so a crashed Ottoscaler is noticed in seconds."""
    waiting = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=HEARTBEAT_EVERY_SECONDS)
            if done:
                return waiting.result()
            activity.heartbeat()
    finally:
        waiting.cancel()
