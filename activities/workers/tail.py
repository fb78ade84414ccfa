"""The log tail: one activity per worker, following its output into the log sinks.

It numbers the lines (per-pod sequence from 1, no gaps), archives and publishes them,
and heartbeats its LogCursor. A retry (after this process or its Temporal worker died)
resumes after the cursor of the last heartbeat; lines the archive already holds are
dropped there, so each line is archived once. It returns only once the worker's output
is complete, so the last lines before an exit are kept. Logs never travel through
workflow history: the activity returns the number of lines, nothing else.

Logs must never fail a worker: an output that cannot be read (the worker is gone, the
runtime refuses) completes the pod's log with a note; only transient errors are retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity

from activities.logs import LogSinks, PodLog, pod_meta
from activities.logs.lines import LogCursor, LogLine, OutputLine
from activities.runtimes.boundary import heartbeat_interval
from activities.runtimes.protocol import PermanentRuntimeError, WorkerRuntime
from workflows.workers.calls import TAIL_WORKER_LOGS
from workflows.workers.spec import WorkerSpec

# A heartbeat carries the cursor a retry resumes after. The SDK sends the latest one it
# was given whenever its throttle allows; given one every second, that cursor is at most
# a second stale, so a retry after a crash reads little output twice.
CURSOR_MAX_AGE_SECONDS = 1.0


def numbered(batch: Sequence[OutputLine], after: int) -> list[LogLine]:
    return [
        LogLine(
            timestamp=line.timestamp,
            source=line.source,
            message=line.message,
            level=line.level,
            sequence=sequence,
        )
        for sequence, line in enumerate(batch, after + 1)
    ]


class _Progress:
    """The cursor the heartbeat loop reports: always the last batch fully archived."""

    def __init__(self, cursor: LogCursor) -> None:
        self.cursor = cursor

    async def heartbeats(self) -> None:
        # Heartbeats also carry cancellation to this activity while the output is quiet.
        interval = heartbeat_interval(at_most=CURSOR_MAX_AGE_SECONDS)
        while True:
            activity.heartbeat(self.cursor)
            await asyncio.sleep(interval)


def resumed_cursor() -> LogCursor:
    details = activity.info().heartbeat_details
    return LogCursor.model_validate(details[0]) if details else LogCursor()


class LogTailActivities:
    def __init__(self, runtime: WorkerRuntime, sinks: LogSinks) -> None:
        self.runtime = runtime
        self.sinks = sinks

    @activity.defn(name=TAIL_WORKER_LOGS)
    async def tail_worker_logs(self, spec: WorkerSpec) -> int:
        """Follows the worker's output to its end; returns the number of lines."""
        progress = _Progress(resumed_cursor())
        # ArchiveBusy (a stale tail of the same pod still holds it) is retried.
        with self.sinks.open(pod_meta(spec)) as pod_log:
            beating = asyncio.create_task(progress.heartbeats())
            try:
                note = await self._follow(spec, pod_log, progress)
            except asyncio.CancelledError:
                if activity.is_worker_shutdown():
                    activity.heartbeat(progress.cursor)  # the retry resumes exactly here
                else:
                    pod_log.complete("tail cancelled")
                raise
            finally:
                beating.cancel()
                await asyncio.gather(beating, return_exceptions=True)
            pod_log.complete(note)
        return progress.cursor.sequence

    async def _follow(self, spec: WorkerSpec, pod_log: PodLog, progress: _Progress) -> str:
        """Archives the output to its end; returns a note when it could not be read."""
        try:
            async for batch in self.runtime.follow_output(spec, progress.cursor):
                pod_log.write(numbered(batch, progress.cursor.sequence))
                progress.cursor = progress.cursor.advance(batch)
        except PermanentRuntimeError as err:
            return f"output unavailable: {err}"
        return ""
