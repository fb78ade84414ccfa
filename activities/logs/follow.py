"""Reading logs: replay from the archive, then follow live, each line once and in order.

For every pod the selector matches, lines go out in sequence order from `from_sequence`.
The archive is replayed first. When following, the hub's batches go out as they come,
and every gap is filled from the archive: a batch that starts past the next expected
line, a pod first seen live, a subscription that overflowed, or lines another process
wrote (noticed by looking at the archive whenever the hub is quiet). The end:

- with `owner_closed` (a pipeline or task): once it says the owner has ended, after a
  last look at the archive; it is asked on every quiet poll once all known pods are
  complete, and every few seconds otherwise (a pod whose tail was lost never completes);
- without: once at least one pod is known and all are complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from activities.logs.hub import LiveBatch, LiveEnd, LiveEvent, LiveNotice
from activities.logs.lines import LogLine
from activities.logs.pods import LogSelector, PodMeta
from activities.logs.sinks import LogSinks
from activities.logs.store import PodReader

OWNER_CHECK_SECONDS = 2.0
OwnerClosed = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class LogBatch:
    meta: PodMeta
    lines: Sequence[LogLine]


@dataclass
class _Pod:
    meta: PodMeta
    next: int
    reader: PodReader | None
    complete: bool = False
    # Fed by the hub since the last sweep: its archive holds nothing the hub did not send.
    live: bool = False


class _Reading:
    """Per-pod progress of one reader: the next sequence each pod owes it."""

    def __init__(self, sinks: LogSinks, selector: LogSelector, first: int) -> None:
        self._archive = sinks.archive
        self._selector = selector
        self._first = first
        self.pods: dict[str, _Pod] = {}

    def _pod(self, meta: PodMeta) -> _Pod:
        pod = self.pods.get(meta.pod)
        if pod is None:
            reader = self._archive.reader(meta) if self._archive else None
            pod = self.pods[meta.pod] = _Pod(meta, self._first, reader)
        return pod

    @property
    def all_complete(self) -> bool:
        return bool(self.pods) and all(pod.complete for pod in self.pods.values())

    async def sweep(self, *, everything: bool) -> AsyncIterator[LogBatch]:
        """What the archive holds that this reader has not had, pods oldest first; without
        `everything`, pods the hub is feeding are skipped."""
        if self._archive is None:
            return
        for meta in await self._archive.find(self._selector):
            pod = self._pod(meta)
            live, pod.live = pod.live, False
            if not pod.complete and (everything or not live):
                # The meta first: a pod saved complete has all its lines written before.
                pod.complete = meta.complete
                pod.meta = meta
                async for batch in self._catch_up(pod):
                    yield batch

    async def live(self, event: LiveEvent) -> AsyncIterator[LogBatch]:
        if isinstance(event, LiveNotice) and event.meta.pod not in self.pods:
            # A notice names the pod only: take its labels and times from the archive.
            event = LiveNotice(await self._stored(event.meta))
        pod = self._pod(event.meta)
        pod.live = True
        if not isinstance(event, LiveBatch):
            # An end, or another process's write: the lines are in the archive.
            async for batch in self._catch_up(pod):
                yield batch
            if isinstance(event, LiveEnd) or event.meta.complete:
                pod.complete = True
                pod.meta = await self._stored(event.meta)
            return
        lines = event.lines
        if lines[0].sequence > pod.next:
            async for batch in self._catch_up(pod):
                yield batch
        skip = pod.next - lines[0].sequence
        if skip > 0:
            lines = lines[skip:]  # sequences within a batch are contiguous
        if lines:
            pod.next = lines[-1].sequence + 1
            yield LogBatch(pod.meta, lines)

    async def _stored(self, meta: PodMeta) -> PodMeta:
        """The pod's meta as archived (a notice carries only its ids)."""
        stored = await self._archive.current(meta) if self._archive else None
        return stored or meta

    async def _catch_up(self, pod: _Pod) -> AsyncIterator[LogBatch]:
        if pod.reader is None:
            return
        while lines := await pod.reader.read(after=pod.next - 1):
            pod.next = lines[-1].sequence + 1
            yield LogBatch(pod.meta, lines)


async def follow_logs(
    sinks: LogSinks,
    selector: LogSelector,
    from_sequence: int,
    *,
    follow: bool,
    owner_closed: OwnerClosed | None = None,
    poll_seconds: float = 0.5,
) -> AsyncIterator[LogBatch]:
    reading = _Reading(sinks, selector, max(1, from_sequence))
    # Subscribed before the replay: whatever is published meanwhile is not missed.
    subscription = sinks.hub.subscribe(selector) if follow else None
    try:
        async for batch in reading.sweep(everything=True):
            yield batch
        if subscription is None:
            return
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + poll_seconds
        next_owner_check = loop.time() + OWNER_CHECK_SECONDS
        while True:
            events = await subscription.next(poll_seconds)
            overflowed = subscription.overflowed
            if overflowed:
                subscription.resume()  # then catch up: the archive holds all it missed
            for event in events:
                async for batch in reading.live(event):
                    yield batch
            now = loop.time()
            if events and not overflowed and now < next_sweep:
                continue
            next_sweep = now + poll_seconds
            async for batch in reading.sweep(everything=overflowed):
                yield batch
            if events:
                continue
            if owner_closed is None:
                if reading.all_complete:
                    return
            elif reading.all_complete or now >= next_owner_check:
                next_owner_check = now + OWNER_CHECK_SECONDS
                if await owner_closed():
                    async for batch in reading.sweep(everything=True):
                        yield batch
                    return
    finally:
        if subscription is not None:
            subscription.close()
