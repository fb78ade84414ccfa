"""The live hub: lines reach in-process subscribers the moment they are archived.

publish() never waits. Each subscriber has a bounded backlog; one that falls behind (a
slow gRPC client) is cut loose, marked `overflowed` and woken, and catches up from the
archive before it takes live lines again. So a slow or vanished subscriber never blocks
the tail or the other subscribers. Watchers (the forwarder) only hear which pod changed.

Where replicas share the archive, the hub also hears of other processes' writes (a
LiveNotice, from activities/logs/postgres/notices.py): its readers then read those lines
from the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from activities.logs.lines import LogLine
from activities.logs.pods import LogSelector, PodMeta

# Lines a subscriber may have pending before it is cut loose to read the archive.
DEFAULT_BACKLOG = 20_000


@dataclass(frozen=True, slots=True)
class LiveBatch:
    meta: PodMeta
    lines: Sequence[LogLine]


@dataclass(frozen=True, slots=True)
class LiveEnd:
    """The pod's output is complete and archived."""

    meta: PodMeta


@dataclass(frozen=True, slots=True)
class LiveNotice:
    """Another process wrote lines of this pod (or ended it: meta.complete); they are in
    the archive."""

    meta: PodMeta


LiveEvent = LiveBatch | LiveEnd | LiveNotice
# Told which pod changed, and whether this process wrote it.
Watcher = Callable[[PodMeta, bool], None]


class Subscription:
    def __init__(self, hub: LiveHub, selector: LogSelector, backlog: int) -> None:
        self.selector = selector
        self.overflowed = False
        self._hub = hub
        self._limit = backlog
        self._events: list[LiveEvent] = []
        self._pending = 0
        self._wake = asyncio.Event()

    def offer(self, event: LiveEvent, size: int) -> None:
        if self.overflowed:
            return
        if self._pending + size > self._limit:
            self.cut_loose()
            return
        self._events.append(event)
        self._pending += size
        self._wake.set()

    def cut_loose(self) -> None:
        """Drops what is pending: the reader catches up from the archive instead."""
        self.overflowed = True
        self._events.clear()
        self._pending = 0
        self._wake.set()

    async def next(self, wait_seconds: float) -> list[LiveEvent]:
        """The events so far, waiting up to wait_seconds for one. Check `overflowed` after."""
        if not self._events and not self.overflowed:
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for may swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self._wake.wait()
        events, self._events, self._pending = self._events, [], 0
        return events

    def resume(self) -> None:
        """Takes live events again; the caller then catches up from the archive."""
        self.overflowed = False

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LiveHub:
    def __init__(self, backlog: int = DEFAULT_BACKLOG) -> None:
        self._backlog = backlog
        self._subscriptions: set[Subscription] = set()
        self._watchers: list[Watcher] = []

    def subscribe(self, selector: LogSelector) -> Subscription:
        subscription = Subscription(self, selector, self._backlog)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.remove(watcher)

    def publish(self, meta: PodMeta, lines: Sequence[LogLine]) -> None:
        self._offer(LiveBatch(meta, lines), len(lines))

    def finish(self, meta: PodMeta) -> None:
        self._offer(LiveEnd(meta), 1)

    def written_elsewhere(self, meta: PodMeta) -> None:
        self._offer(LiveNotice(meta), 1, here=False)

    def missed_notices(self) -> None:
        """Notices may have been lost (the listener was reconnecting): every reader looks
        at the whole archive again, as one that fell behind does."""
        for subscription in self._subscriptions:
            subscription.cut_loose()

    def _offer(self, event: LiveEvent, size: int, *, here: bool = True) -> None:
        for subscription in self._subscriptions:
            if subscription.selector.matches(event.meta):
                subscription.offer(event, size)
        for watcher in self._watchers:
            watcher(event.meta, here)
