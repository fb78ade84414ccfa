"""MAX_WORKERS as an interface: how many workers may be live at once, shared by worker
pools (which are refused when the room is not there) and pipelines (whose workers wait
for it).

WorkerLedger (ledger.py) keeps the count in this process. A store that replicas share can
implement the same interface later: what it must guarantee is written on each method, and
a reservation must not outlive the process or activity that holds it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol


class NoRoom(Exception):
    """Taking the workers asked for would pass the limit."""

    def __init__(self, limit: int, in_use: int) -> None:
        super().__init__(f"MAX_WORKERS={limit} reached ({in_use} in use)")
        self.limit = limit
        self.in_use = in_use


class RoomAborted(Exception):
    """The worker a wait was for is being deleted: it must not be created."""


class CapacityUnknown(Exception):
    """The live workers are not known yet (the runtime's change feed is down)."""


SYNC_TIMEOUT_SECONDS = 5.0


async def until_synced(synced: asyncio.Event) -> None:
    """Waits for the feed's first snapshot; CapacityUnknown when it does not come."""
    try:
        await asyncio.wait_for(synced.wait(), SYNC_TIMEOUT_SECONDS)
    except TimeoutError:
        raise CapacityUnknown(
            "the live workers are not known yet: the runtime feed is down"
        ) from None


class Reservation(Protocol):
    async def release(self, created: Sequence[str] = ()) -> None:
        """Gives the room back. `created`: workers made under this reservation that the
        runtime may not have reported yet; they stay counted until it does."""
        ...


class WorkerCapacity(Protocol):
    """Live workers (pending or running, as the runtime reports them) plus reservations,
    never more than `limit`. A worker both live and reserved counts once."""

    limit: int

    async def take(self, count: int) -> Reservation:
        """Room for `count` more workers now; NoRoom when that would pass the limit."""
        ...

    async def wait(self, name: str) -> Reservation:
        """Room for the named worker once there is some, first come first served. A worker
        already live or reserved takes no more. RoomAborted once abort(name) was called."""
        ...

    async def abort(self, name: str) -> None:
        """The named worker is being deleted: its reservation ends (it counts while the
        runtime reports it live), a wait for it ends now with RoomAborted, and one that
        starts later at once."""
        ...
