"""Whether Temporal answers, as a cheap check every few seconds sees it.

The check is the frontend's own gRPC health check: no Temporal action, nothing billed,
bounded by a short timeout so that a hung server counts as down too. Listeners hear each
change: the gateway's health follows it, and while Temporal is down the calls that need it
answer UNAVAILABLE at once (gateway/server/outage.py) instead of after the Temporal
client's own retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError

from activities.background import in_background

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2.0

# Called with True when Temporal answers again, False when it stops answering.
Listener = Callable[[bool], Awaitable[None]]


class Reachability:
    def __init__(self, client: Client, interval_seconds: float) -> None:
        self._client = client
        self._interval = interval_seconds
        self._timeout = timedelta(seconds=min(interval_seconds, CHECK_TIMEOUT_SECONDS))
        self._listeners: list[Listener] = []
        self.problem = ""  # why the last check failed; empty while Temporal answers

    @property
    def reachable(self) -> bool:
        return not self.problem

    @property
    def address(self) -> str:
        return self._client.service_client.config.target_host

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def check(self) -> None:
        try:
            serving = await self._client.service_client.check_health(timeout=self._timeout)
        except RPCError as err:
            problem = err.message or err.status.name
        else:
            problem = "" if serving else "its frontend is not serving"
        was = self.reachable
        self.problem = problem
        if self.reachable == was:
            return
        if problem:
            log.warning("Temporal at %s stopped answering: %s", self.address, problem)
        else:
            log.info("Temporal at %s answers again", self.address)
        for listener in self._listeners:
            await listener(self.reachable)

    @asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """Checks every interval while inside."""
        async with in_background(self._watch()):
            yield

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.check()
