"""Prints what two streams deliver in the order of its timestamps.

A pipeline's progress and its workers' lines arrive on two streams, the progress a little
later (it waits for the workflow task to complete): printed as they arrive, a line could
follow an event it happened before. Each item is held HOLD_SECONDS after it arrives, then
printed with every held item older than it. Once the pipeline has ended, what happened at
its end or later waits for release_all, so the lines its workers printed before it ended
come first, however late their stream delivers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Longer than the progress stream's usual lag behind the logs (tens of milliseconds),
# short enough to read as live.
HOLD_SECONDS = 1.0


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 wire time; an item without one counts as happening now."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)


@dataclass(order=True)
class _Held:
    timestamp: datetime
    sequence: int
    arrived: float = field(compare=False)
    show: Callable[[], None] = field(compare=False)


class TimeOrder:
    def __init__(self, hold: float = HOLD_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._hold = hold
        self._clock = clock
        self._held: list[_Held] = []
        self._added = 0
        self._ended_at: datetime | None = None

    def add(self, timestamp: str, show: Callable[[], None], *, ends_pipeline: bool = False) -> None:
        """Holds show(); ends_pipeline: the item is the pipeline's final event."""
        when = parse_timestamp(timestamp)
        if ends_pipeline and (self._ended_at is None or when < self._ended_at):
            self._ended_at = when
        self._held.append(_Held(when, self._added, self._clock(), show))
        self._added += 1

    def release_due(self) -> None:
        """Shows, in time order, each item held long enough and every item older than it."""
        now = self._clock()
        due = [
            item.timestamp
            for item in self._held
            if now - item.arrived >= self._hold
            and (self._ended_at is None or item.timestamp < self._ended_at)
        ]
        if due:
            self._release(lambda item: item.timestamp <= max(due))

    def release_all(self) -> None:
        self._release(lambda item: True)

    def _release(self, chosen: Callable[[_Held], bool]) -> None:
        now = [item for item in self._held if chosen(item)]
        self._held = [item for item in self._held if not chosen(item)]
        for item in sorted(now):
            item.show()
