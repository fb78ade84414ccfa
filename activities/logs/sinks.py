"""Where a pod's numbered lines go: the archive first (durable), then the live hub.

A batch is archived and published without a pause in between, so a line is live only
once it is durable, and a subscriber that catches up from the archive never misses a
line the hub sent before. The forwarder to otto-handler follows the archive on its own
(gateway/logs/forwarder.py): nothing here ever waits for otto-handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

from activities.logs.archive import Archive
from activities.logs.hub import LiveHub
from activities.logs.lines import LogLine
from activities.logs.pod_files import PodWriter
from activities.logs.pods import PodMeta


class LogSinks:
    """archive None keeps lines only for live subscribers (bare test workers)."""

    def __init__(self, archive: Archive | None, hub: LiveHub, *, forward: bool = False) -> None:
        self.archive = archive
        self.hub = hub
        # Marks every pod for the forwarder to otto-handler (OTTO_HANDLER_ADDR is set).
        self.forward = forward

    def open(self, meta: PodMeta) -> PodLog:
        """The pod's log, locked for this writer; raises ArchiveBusy when another holds it."""
        if self.archive is None:
            return PodLog(self, meta, None)
        writer, stored = self.archive.open_writer(meta, forward=self.forward)
        return PodLog(self, stored, writer)


class PodLog:
    def __init__(self, sinks: LogSinks, meta: PodMeta, writer: PodWriter | None) -> None:
        self.meta = meta
        self._sinks = sinks
        self._writer = writer
        self._last = writer.last_sequence if writer else 0

    @property
    def last_sequence(self) -> int:
        """The last sequence this pod's archive holds."""
        return self._last

    def write(self, lines: Sequence[LogLine]) -> None:
        """Archives the lines the archive does not hold yet, then publishes them."""
        fresh = self._writer.append(lines) if self._writer else lines
        if fresh:
            self._last = fresh[-1].sequence
            self._sinks.hub.publish(self.meta, fresh)

    def complete(self, note: str = "") -> None:
        """The output is complete: followers of this pod may stop once they read it all."""
        self.meta = self.meta.model_copy(
            update={"complete": True, "lines": self._last, "note": note}
        )
        if self._sinks.archive is not None:
            self._sinks.archive.save(self.meta)
        if self._writer is not None:
            self._writer.close(sync=True)
        self._sinks.hub.finish(self.meta)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> PodLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
