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
# Without a heartbeat timeout nothing times out: heartbeats only bring the cancellation.
NO_TIMEOUT_HEARTBEAT_SECONDS = 10.0


def heartbeat_interval(at_most: float | None = None) -> float:
    """Seconds between the running activity's heartbeats: a third of its heartbeat timeout,
    so one late or lost heartbeat does not time it out; at most `at_most`, for heartbeats
    whose details must be fresh when the SDK sends them (it throttles to one per 0.8 of
    the timeout, and sends the latest)."""
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else NO_TIMEOUT_HEARTBEAT_SECONDS
    return interval if at_most is None else min(interval, at_most)


async def runtime_boundary(call: Awaitable[T]) -> T:
    """Turns a RuntimeFailure into an ApplicationError whose non_retryable is deliberate."""
    try:
        return await call
    except RuntimeFailure as err:
        raise ApplicationError(
            str(err), type=type(err).__name__, non_retryable=not err.retryable
        ) from err


async def heartbeating(call: Awaitable[T]) -> T:
    """Awaits call while heartbeating, so a crashed Ottoscaler is noticed in seconds. The
    heartbeats carry what the last attempt's did (a log cursor), for the next to resume."""
    interval = heartbeat_interval()
    details = activity.info().heartbeat_details
    waiting = asyncio.ensure_future(call)
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=interval)
            if done:
                return waiting.result()
            activity.heartbeat(*details)
    finally:
        waiting.cancel()
