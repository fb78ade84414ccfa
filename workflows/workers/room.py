"""What run_worker tells the workflow that scheduled it while workers wait for room under
MAX_WORKERS: the signal's name and its report.

A worker that finds no room waits inside its activity (no Temporal action but its usual
heartbeats); the workflow would not know, so the activity's process signals it, once when
a stage's workers start waiting and once when none of them waits any more.
"""

from __future__ import annotations

from workflows.base.model import Frozen

ROOM_SIGNAL = "room_wait"


class RoomReport(Frozen):
    """Workers of one stage attempt that began waiting for room, or stopped waiting (they
    got room, or their activity ended)."""

    stage_id: str
    attempt: int
    max_workers: int
    waiting: tuple[str, ...] = ()
    done_waiting: tuple[str, ...] = ()
