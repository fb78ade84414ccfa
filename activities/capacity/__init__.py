"""MAX_WORKERS: the room pools and pipelines share (protocol.py), kept in this process
by ledger.py."""

from activities.capacity.ledger import Unlimited, WorkerLedger
from activities.capacity.protocol import (
    CapacityUnknown,
    NoRoom,
    Reservation,
    RoomAborted,
    WorkerCapacity,
)

__all__ = [
    "CapacityUnknown",
    "NoRoom",
    "Reservation",
    "RoomAborted",
    "Unlimited",
    "WorkerCapacity",
    "WorkerLedger",
]
