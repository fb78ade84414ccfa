"""Where a pod's numbered lines go: the archive first (durable), then the live hub.

A batch is archived and published without a pause in between, so a line is live only
once it is durable, and a subscriber that catches up from the archive never misses a
line the hub sent before. The forwarder to otto-handler follows the archive on its own
(gateway/logs/forwarder.py): nothing here ever waits for otto-handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Protocol

from activities.logs.hub import LiveHub
from activities.logs.lines import LogLine
from activities.logs.pod_files import TRUNCATED
from activities.logs.pods import PodMeta
from activities.logs.store import LogArchive, PodWriter


class LineCounts(Protocol):
    """What becomes of the lines written here (the metrics)."""

    def archived(self, lines: int) -> None: ...

    def cut(self, lines: int) -> None:
        """Lines not kept: past the worker's size limit."""


class _Uncounted:
    def archived(self, lines: int) -> None:
        pass

    def cut(self, lines: int) -> None:
        pass


class LogSinks:
    """archive None keeps lines only for live subscribers (bare test workers).

    max_bytes_per_pod (0: no limit) bounds what one worker's log keeps, as CI runners do:
    past it one marker line says so and the rest is dropped, also by a retried tail,
    which finds the archive already full."""

    def __init__(
        self,
        archive: LogArchive | None,
        hub: LiveHub,
        *,
        forward: bool = False,
        max_bytes_per_pod: int = 0,
        poll_seconds: float = 0.5,
        counts: LineCounts | None = None,
    ) -> None:
        self.archive = archive
        self.counts = counts or _Uncounted()
        self.hub = hub
        # Marks every pod for the forwarder to otto-handler (OTTO_HANDLER_ADDR is set).
        self.forward = forward
        self.max_bytes_per_pod = max_bytes_per_pod
        # How often a reader looks at the archive for what the hub did not bring: lines
        # of a process whose writes this hub does not hear of.
        self.poll_seconds = poll_seconds

    async def open(self, meta: PodMeta) -> PodLog:
        """The pod's log, locked for this writer; raises ArchiveBusy when another holds it."""
        if self.archive is None:
            return PodLog(self, meta, None)
        writer, stored = await self.archive.open_writer(meta, forward=self.forward)
        return PodLog(self, stored, writer)

    async def completed(self, meta: PodMeta) -> bool:
        """The archive holds the pod's log, complete: its worker ended or said it is done."""
        stored = await self.archive.current(meta) if self.archive is not None else None
        return stored is not None and stored.complete


class PodLog:
    def __init__(self, sinks: LogSinks, meta: PodMeta, writer: PodWriter | None) -> None:
        self.meta = meta
        self._sinks = sinks
        self._writer = writer
        self._last = writer.last_sequence if writer else 0
        # Bytes kept so far: each message and its newline. A reopened log starts from the
        # archive file's size, a little more than its messages: never more than the limit.
        self._kept = writer.size if writer else 0
        self._limit = sinks.max_bytes_per_pod
        self._truncated = writer.truncated if writer else False

    @property
    def full(self) -> bool:
        """The log was cut at its size limit: nothing more is kept."""
        return self._truncated

    @property
    def last_sequence(self) -> int:
        """The last sequence this pod's archive holds."""
        return self._last

    async def write(self, lines: Sequence[LogLine]) -> None:
        """Archives the lines the archive does not hold yet, then publishes them; past
        the size limit, a marker line instead of the rest. When the archive cannot be
        reached (ArchiveUnavailable) nothing changes here: the same call may be repeated."""
        if self.full:
            self._sinks.counts.cut(len(lines))
            return
        given = len(lines)
        lines, kept, truncated = self._within_limit(lines)
        fresh = await self._writer.append(lines) if self._writer else lines
        if truncated:  # the marker took the place of the first line cut
            self._sinks.counts.cut(given - len(lines) + 1)
        self._kept, self._truncated = kept, truncated
        if fresh:
            self._sinks.counts.archived(len(fresh))
            self._last = fresh[-1].sequence
            self._sinks.hub.publish(self.meta, fresh)

    def _within_limit(self, lines: Sequence[LogLine]) -> tuple[Sequence[LogLine], int, bool]:
        """The lines to keep, the bytes kept after them, and whether the log is cut."""
        if not self._limit:
            return lines, self._kept, False
        room = self._limit - self._kept
        for index, line in enumerate(lines):
            room -= len(line.message.encode()) + 1
            if room < 0:
                marker = replace(
                    line,
                    message=f"{TRUNCATED}this worker printed more than "
                    f"{self._limit} bytes; the rest is not kept]",
                )
                return [*lines[:index], marker], self._kept, True
        return lines, self._limit - room, False

    async def complete(self, note: str = "") -> None:
        """The output is complete: followers of this pod may stop once they read it all."""
        self.meta = self.meta.model_copy(
            update={"complete": True, "lines": self._last, "note": note}
        )
        if self._sinks.archive is not None:
            await self._sinks.archive.save(self.meta)
        if self._writer is not None:
            await self._writer.close(sync=True)
        self._sinks.hub.finish(self.meta)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()

    async def __aenter__(self) -> PodLog:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
