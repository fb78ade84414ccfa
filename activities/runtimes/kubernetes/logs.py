"""Following one pod's output: `pods/log?follow=true&timestamps=true`, resumed by time.

Kubernetes reopens a container's log only by time (`sinceTime`, whole seconds by the
time it reaches the kubelet), so every (re)open asks from the second of the last line
delivered and lines.SeenFilter drops what was delivered already. The log merges
stdout and stderr into one stream: every line is reported as stdout.

PodLog's methods block (the client is synchronous) and run in the runtime's watch pool,
one bounded read per thread hop; follow_pod_log drives them from the event loop:

- 400 while the container has not started: wait for the pod to change, then reopen;
- a dropped or long-silent connection: reopen from the cursor (errors with Retry's backoff);
- a stream that ended: the output is complete once a stream opened after the pod ended
  is read to its end (a follow stream may also end early, e.g. when a kubelet restarts);
- 404: the pod was deleted (complete), or never existed (WorkerNotFound).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncGenerator, Sequence
from contextlib import closing
from datetime import UTC, datetime

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from activities.logs.lines import (
    CONTINUED,
    MAX_BATCH,
    READ_CHUNK_BYTES,
    STDOUT,
    LineSplitter,
    LogCursor,
    OutputLine,
    SeenFilter,
)
from activities.runtimes.kubernetes.errors import CLIENT_ERRORS, Retry, runtime_error
from activities.runtimes.kubernetes.status import worker_phase
from activities.runtimes.kubernetes.watch import CONNECT_SECONDS, STALL_SECONDS, PodStream, Runner
from activities.runtimes.protocol import RuntimeFailure, TransientRuntimeError
from workflows.workers.spec import WorkerPhase

LOG_PATH = "/api/v1/namespaces/{namespace}/pods/{name}/log"
VERB = "read the log of"
BAD_REQUEST, NOT_FOUND = 400, 404
ENDED = (WorkerPhase.SUCCEEDED, WorkerPhase.FAILED)
# A stream that ended while the pod still runs is reopened after the pod's next change
# (usually its container has just exited) or after this long, without spinning meanwhile.
RECHECK_SECONDS = 1.0


class StampedLines:
    """Raw `timestamps=true` output as OutputLines: each line starts with its RFC3339Nano
    time. Times keep microseconds (the same on every read, so resuming compares equal)."""

    def __init__(self) -> None:
        self._splitter = LineSplitter()
        self._stamp: datetime | None = None
        self._continued = False  # the last piece was cut off a long line: its rest follows

    def feed(self, chunk: bytes) -> list[OutputLine]:
        return [self._line(message) for message in self._splitter.feed(chunk)]

    def end(self) -> list[OutputLine]:
        return [self._line(message) for message in self._splitter.end()]

    def _line(self, message: str) -> OutputLine:
        if not self._continued:  # the rest of a cut line carries no stamp of its own
            stamp, _, text = message.partition(" ")
            with contextlib.suppress(ValueError):  # unstamped: keeps the previous time
                self._stamp = datetime.fromisoformat(stamp).astimezone(UTC)
                message = text
        self._continued = message.endswith(CONTINUED)
        return OutputLine(self._stamp or datetime.now(UTC), STDOUT, message)


class PodLog:
    """One pod's log stream and phase; every method but stop() blocks."""

    def __init__(self, api: ApiClient, namespace: str, name: str, watch_timeout: int) -> None:
        self.namespace = namespace
        self.name = name
        self.watch_timeout = watch_timeout
        self._api = api
        self._pod = PodStream(api, namespace, fields=f"metadata.name={name}")
        # A silent stream is reopened after this, so a half-dead connection cannot hang it.
        self._read_timeout = watch_timeout + STALL_SECONDS
        self._response: urllib3.BaseHTTPResponse | None = None
        self._lines = StampedLines()
        self._stopped = threading.Event()
        # Held while a thread reads or swaps the response; stop() closes it when free.
        self._busy = threading.Lock()

    def open(self, since: datetime | None) -> None:
        """Starts following from the whole second of `since` (all the output when None)."""
        query = [("follow", "true"), ("timestamps", "true")]
        if since is not None:
            query.append(("sinceTime", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
        # Raw: read_namespaced_pod_log has no since_time in client v37.
        request = self._api.param_serialize(
            "GET",
            LOG_PATH,
            path_params={"namespace": self.namespace, "name": self.name},
            query_params=query,
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        timeout = (CONNECT_SECONDS, self._read_timeout)
        response = self._api.call_api(*request, _request_timeout=timeout).response
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)  # reads the Status body
        with self._busy:
            self._response, self._lines = response, StampedLines()
            if self._stopped.is_set():  # stop() ran while this connected
                self._close()

    def read(self) -> list[OutputLine] | None:
        """The next whole lines, blocking until there is one; None once the stream ended."""
        with self._busy:
            while (response := self._response) is not None:
                try:
                    chunk = response.read1(READ_CHUNK_BYTES)
                except BaseException:
                    self._close()
                    raise
                if chunk:
                    lines = self._lines.feed(chunk)
                else:
                    self._close()
                    # A stream cut by stop() may end mid-line; a finished one ends with its last.
                    lines = [] if self._stopped.is_set() else self._lines.end()
                if lines:
                    return lines
            return None

    def phase(self) -> WorkerPhase | None:
        """The pod's phase now, None once it is gone; changed() waits from this state."""
        pods = self._pod.list()
        return worker_phase(pods[0]) if pods else None

    def changed(self, seconds: float) -> None:
        """Blocks until the pod changes after the last phase(), or `seconds` passed."""
        with closing(self._pod.watch(seconds, seconds + STALL_SECONDS)) as events:
            for _ in events:
                return

    def _close(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
            response.release_conn()

    def stop(self) -> None:
        """Ends a read or a wait in progress (from another thread): the follower went away."""
        self._stopped.set()
        self._pod.stop()
        if self._busy.acquire(blocking=False):  # no read in progress: close it here
            try:
                self._close()
            finally:
                self._busy.release()
        elif (response := self._response) is not None:
            # Unblocks the reading thread, which then closes the response itself.
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                response.shutdown()


async def follow_pod_log(
    log: PodLog, after: LogCursor, run: Runner, retry: Retry, active: set[PodLog]
) -> AsyncGenerator[Sequence[OutputLine]]:
    """The pod's output after `after` in batches, until complete (see the module doc).

    run runs a blocking call in a thread; active holds the logs the runtime stops on close.
    """
    state = _Follow(log, run, after)
    active.add(log)
    try:
        while not state.complete:
            try:
                if await state.open():
                    seen = SeenFilter(state.cursor)
                    while (lines := await run(log.read)) is not None:
                        retry.succeeded()
                        fresh = seen.fresh(lines)
                        for start in range(0, len(fresh), MAX_BATCH):
                            batch = fresh[start : start + MAX_BATCH]
                            yield batch
                            state.cursor = state.cursor.advance(batch)
                    await state.ended()
                retry.succeeded()
            except urllib3.exceptions.ReadTimeoutError:
                continue  # silent past the read timeout: reopen rather than trust the socket
            except CLIENT_ERRORS as exc:
                await _failed(retry, exc, log)  # then reopen from the cursor
    finally:
        log.stop()
        active.discard(log)


class _Follow:
    """Where a follow stands, and what to do when a stream ended or the log was refused."""

    def __init__(self, log: PodLog, run: Runner, after: LogCursor) -> None:
        self.cursor = after  # the last line yielded
        self.complete = False
        self._log = log
        self._run = run
        self._existed = False  # a 404 then means deleted (complete), not unknown
        self._last_pass = False  # the pod had ended when the current stream was opened
        self._refused_running = False  # the last 400 came while the pod was Running

    async def open(self) -> bool:
        """Opens a stream from the cursor; False when the log was refused (400), once
        waiting for the container to start is over, or when the pod is gone."""
        try:
            await self._run(self._log.open, self.cursor.timestamp)
        except ApiException as exc:
            if exc.status == NOT_FOUND and self._existed:
                self.complete = True
                return False
            if exc.status != BAD_REQUEST:
                raise  # the caller maps it (404 at first: WorkerNotFound)
            self._existed = True
            await self._refused(exc)
            return False
        self._existed = True
        self._refused_running = False
        return True

    async def ended(self) -> None:
        """After a stream's end: complete, or reopen (waiting a little while it runs)."""
        if self._last_pass:
            self.complete = True
            return
        phase = await self._run(self._log.phase)
        if phase is None:
            self.complete = True  # deleted: nothing more can be read
        elif phase in ENDED:
            self._last_pass = True  # one more stream reads whatever the first one missed
        else:
            await self._run(self._log.changed, RECHECK_SECONDS)

    async def _refused(self, exc: ApiException) -> None:
        """After a 400 (the container has not started): wait for it, unless it never will."""
        phase = await self._run(self._log.phase)
        if phase is None or phase in ENDED:
            self.complete = True  # gone, or failed before its container started: no output
        elif phase is WorkerPhase.PENDING:
            self._refused_running = False
            await self._run(self._log.changed, self._log.watch_timeout)
        elif self._refused_running:  # refused twice while running: not about starting
            raise runtime_error(exc, verb=VERB, namespace=self._log.namespace, name=self._log.name)
        else:
            self._refused_running = True  # it may have started just after the 400


async def _failed(retry: Retry, exc: BaseException, log: PodLog) -> None:
    """Backs off before the next try; raises when trying again cannot help."""
    error = runtime_error(exc, verb=VERB, namespace=log.namespace, name=log.name)
    if not isinstance(error, TransientRuntimeError):
        raise error from exc
    try:
        await retry.failed(exc)
    except RuntimeFailure:
        raise error from exc  # given up: the error says what we were doing
