"""What the log machinery asks of an archive, whichever holds it: files under the data
dir for one process (archive.py), or PostgreSQL shared by every replica (postgres/).

Every method may wait on I/O. A pod's lines are kept once each, in sequence order; one
writer and one forwarder hold a pod at a time, across every process that shares the
archive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from activities.logs.lines import LogLine
from activities.logs.pods import LogSelector, PodMeta


class ArchiveBusy(Exception):
    """Another writer (another process, or a stale tail) holds this pod's archive."""


class ArchiveUnavailable(Exception):
    """The archive cannot be reached (its database is down): try again later."""


class HoldLost(ArchiveUnavailable):
    """This process no longer holds the pod (its database connection dropped and another
    replica took the pod over): it must stop writing or forwarding it."""


class PodWriter(Protocol):
    """Appends a pod's lines, each sequence at most once."""

    last_sequence: int
    # Bytes the pod's log holds: where its size limit (LOG_MAX_BYTES_PER_WORKER) starts.
    size: int
    # An earlier writer cut the log at its size limit.
    truncated: bool

    async def append(self, lines: Sequence[LogLine]) -> Sequence[LogLine]:
        """Keeps the lines it does not hold yet and returns them."""
        ...

    async def close(self, *, sync: bool = False) -> None: ...


class PodReader(Protocol):
    async def read(self, after: int) -> list[LogLine]:
        """The next lines with a sequence above `after`, a bounded batch; empty once the
        reader is at the end of what was written."""
        ...


class ForwardMark(Protocol):
    """How far otto-handler has settled a pod's lines; held by one forwarder."""

    position: int

    async def commit(self, sequence: int) -> None: ...

    async def finish(self) -> None:
        """Every line is settled and the pod's output is complete."""
        ...

    async def close(self) -> None: ...


class LogArchive(Protocol):
    async def open_writer(self, meta: PodMeta, *, forward: bool) -> tuple[PodWriter, PodMeta]:
        """Holds the pod's log for writing (ArchiveBusy when another writer does); returns
        the writer and the stored meta (its first creation time kept, incomplete again)."""
        ...

    async def save(self, meta: PodMeta) -> None: ...

    async def current(self, meta: PodMeta) -> PodMeta | None: ...

    async def find(self, selector: LogSelector) -> list[PodMeta]:
        """The archived pods the selector matches, oldest first."""
        ...

    def reader(self, meta: PodMeta) -> PodReader: ...

    async def pending_forwards(self) -> list[PodMeta]:
        """Pods with lines otto-handler has not settled yet (or not complete yet)."""
        ...

    async def acquire_forward(self, meta: PodMeta) -> ForwardMark | None:
        """The pod's mark for this forwarder; None when finished or held by another."""
        ...

    async def prune(self, before: float) -> list[str]:
        """Deletes whole tasks whose pods are complete, forwarded and last written before
        `before` (seconds since the epoch); returns their ids."""
        ...
