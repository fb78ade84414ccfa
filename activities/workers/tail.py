"""Following one worker's output into its pod log, for the run_worker activity.

It numbers the lines (per-pod sequence from 1, no gaps), archives and publishes them,
and keeps the LogCursor that the activity heartbeats. A retry (after this process or
its Temporal worker died) resumes after the cursor of the last heartbeat; lines the
archive already holds are dropped there, so each line is archived once. Logs never
travel through workflow history.

Lines are archived at most every GATHER_SECONDS: a line that comes sooner after the last
write is held until then (or until MAX_BATCH lines are held) and archived with the lines
that came meanwhile; one after a quiet spell goes at once. A worker printing a line every
millisecond would otherwise cost a write a line or two (with PostgreSQL a commit, a
notice and a read by every follower and the forwarder), enough to make its lines reach
otto-handler seconds late. Held lines are archived when the output ends or fails, and on
a cancel.

Logs must never fail a worker: an output that cannot be read (the worker is gone, the
runtime refuses) completes the pod's log with a note; only transient errors are retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from functools import partial

from temporalio import activity

from activities.backoff import Backoff
from activities.logs import PodLog
from activities.logs.lines import MAX_BATCH, LogCursor, LogLine, OutputLine
from activities.logs.masking import Masker, SplitLineMasker
from activities.logs.outage import until_reachable
from activities.logs.store import ArchiveUnavailable
from activities.runtimes.boundary import heartbeat_interval
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    TransientRuntimeError,
    WorkerRuntime,
)
from workflows.workers.spec import WorkerSpec

# A heartbeat carries the cursor a retry resumes after. The SDK sends the latest one it
# was given whenever its throttle allows; given one every second, that cursor is at most
# a second stale, so a retry after a crash reads little output twice.
CURSOR_MAX_AGE_SECONDS = 1.0
# Transient failures in a row (about three minutes of pauses) before the tail gives up.
RESUMES = 10
# The least time between two writes of a pod's lines: the longest a line is held.
GATHER_SECONDS = 0.005


def numbered(batch: Sequence[OutputLine], after: int, mask: SplitLineMasker) -> list[LogLine]:
    """The batch's lines numbered after `after`, each secret value in them masked."""
    return [
        LogLine(
            timestamp=line.timestamp,
            source=line.source,
            message=mask(line.source, line.message),
            level=line.level,
            sequence=sequence,
        )
        for sequence, line in enumerate(batch, after + 1)
    ]


def _arrived(reading: asyncio.Future[Sequence[OutputLine] | None] | None) -> Sequence[OutputLine]:
    """The lines of a read that had finished when the tail was cancelled."""
    if reading is None or not reading.done() or reading.cancelled() or reading.exception():
        return ()
    return reading.result() or ()


def resumed_cursor() -> LogCursor:
    """Where the last attempt of this activity got to, from its last heartbeat."""
    details = activity.info().heartbeat_details
    return LogCursor.model_validate(details[0]) if details else LogCursor()


class LogTail:
    """One worker's output, followed into its pod log; cursor is the last batch archived."""

    def __init__(
        self, runtime: WorkerRuntime, spec: WorkerSpec, pod_log: PodLog, mask: Masker | None = None
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.pod_log = pod_log
        self.mask = mask or Masker()
        self.lines = SplitLineMasker(self.mask)
        self.cursor = resumed_cursor()

    async def follow(self) -> str:
        """Archives the output to its end; returns a note when it could not be read.

        A transient error resumes from the cursor after a pause, so a long worker's log
        keeps flowing; past RESUMES failures in a row it is raised, and the activity's
        retry resumes it."""
        backoff = Backoff(1.0, 30.0, retries=RESUMES)
        while True:
            try:
                await self._archive(self.runtime.follow_output(self.spec, self.cursor), backoff)
            except PermanentRuntimeError as err:
                return self.mask(f"output unavailable: {err}")
            except TransientRuntimeError:
                pause = backoff.failed()
                if backoff.exhausted:
                    raise
                await asyncio.sleep(pause)
                continue
            return "log truncated at its size limit" if self.pod_log.full else ""

    async def _archive(self, output: AsyncIterator[Sequence[OutputLine]], backoff: Backoff) -> None:
        """Archives the output, gathered, to its end or the log's size limit. Reads at most
        one batch ahead of the archive, so an archive that waits holds the output back."""
        loop = asyncio.get_running_loop()
        held: list[OutputLine] = []
        written = -GATHER_SECONDS  # loop time of the last write
        due = 0.0  # loop time by which the held lines are archived
        reading: asyncio.Future[Sequence[OutputLine] | None] | None = None
        try:
            while not self.pod_log.full:
                reading = reading or asyncio.ensure_future(anext(output, None))
                await asyncio.wait({reading}, timeout=max(0.0, due - loop.time()) if held else None)
                if reading.done():
                    batch, reading = reading.result(), None
                    if batch is None:
                        break
                    due = due if held else written + GATHER_SECONDS
                    held.extend(batch)
                    backoff.reset()
                    if len(held) < MAX_BATCH and loop.time() < due:
                        continue
                written = loop.time()
                await self._write(held)
                await asyncio.sleep(0)  # a worker printing fast never holds the loop
        except asyncio.CancelledError:
            held.extend(_arrived(reading))
            with suppress(ArchiveUnavailable):  # once: never holds up the cancel
                await self._write(held, waiting=False)
            raise
        except (TransientRuntimeError, PermanentRuntimeError):
            await self._write(held)
            raise
        finally:
            if reading is not None:
                reading.cancel()
        await self._write(held)

    async def _write(self, held: list[OutputLine], waiting: bool = True) -> None:
        """Archives the held lines, numbered, and lets go of them (waits for the archive)."""
        if not held:
            return
        lines = numbered(held, self.cursor.sequence, self.lines)
        if waiting:
            await until_reachable(partial(self.pod_log.write, lines), self.spec.name)
        else:
            await self.pod_log.write(lines)
        self.cursor = self.cursor.advance(held)
        held.clear()

    async def heartbeats(self) -> None:
        """Heartbeats the cursor (the SDK sends the latest at most every 0.8 of the heartbeat
        timeout); they also bring this activity its cancellation. The first waits a whole
        interval: a heartbeat is a billed action, and a worker that ends sooner needs none."""
        interval = heartbeat_interval(at_most=CURSOR_MAX_AGE_SECONDS)
        while True:
            await asyncio.sleep(interval)
            activity.heartbeat(self.cursor)
