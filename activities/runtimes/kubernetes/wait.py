"""Following one pod until its worker's outcome is known: list once, then watch.

PodWatcher holds the state of one wait(): the last pod seen and since when ErrImagePull
has persisted; its PodStream (watch) holds the resourceVersion to resume from. Its
blocking methods run in a worker thread (the client is synchronous);
KubernetesRuntime.wait drives them and owns retries. A watch round ends when the server
times it out, when a deadline of status.early_failure comes due, or on a
disconnect, and the next round resumes from `version`; after a 410 Gone `version` is
None, which means list again.
"""

from __future__ import annotations

import time
from contextlib import closing
from datetime import UTC, datetime

import urllib3.exceptions
from kubernetes.client import ApiClient

from activities.runtimes.kubernetes.bodies import Pod
from activities.runtimes.kubernetes.status import (
    GRACE_REASONS,
    PendingLimits,
    decide,
    deleted_outcome,
    seconds_to_next_check,
    waiting_reason,
)
from activities.runtimes.kubernetes.watch import STALL_SECONDS, PodStream
from activities.runtimes.protocol import WorkerNotFound
from workflows.workers.spec import WorkerOutcome

_MIN_ROUND_SECONDS = 0.05


class PodWatcher:
    """The state of waiting for one pod; list() and watch_round() block."""

    def __init__(
        self,
        api: ApiClient,
        namespace: str,
        name: str,
        limits: PendingLimits,
        watch_timeout: int,
    ) -> None:
        self._stream = PodStream(api, namespace, fields=f"metadata.name={name}")
        self._namespace = namespace
        self._name = name
        self._limits = limits
        self._watch_timeout = watch_timeout
        self._pull_failing_since: datetime | None = None
        self.pod: Pod | None = None

    @property
    def version(self) -> str | None:
        """Where the next watch round resumes; None: list first."""
        return self._stream.version

    def observe(self, pod: Pod) -> WorkerOutcome | None:
        """Takes in a new state of the pod and decides whether the worker has ended."""
        now = datetime.now(UTC)
        self.pod = pod
        waiting = waiting_reason(pod)
        if waiting is not None and waiting[0] in GRACE_REASONS:
            self._pull_failing_since = self._pull_failing_since or now
        else:
            self._pull_failing_since = None
        return self.check(now)

    def check(self, now: datetime | None = None) -> WorkerOutcome | None:
        """Decides again on the last pod seen: deadlines pass without any new event."""
        if self.pod is None:
            return None
        return decide(
            self.pod,
            now=now or datetime.now(UTC),
            limits=self._limits,
            pull_failing_since=self._pull_failing_since,
        )

    def _next_check(self) -> float | None:
        if self.pod is None:
            return None
        return seconds_to_next_check(
            self.pod,
            now=datetime.now(UTC),
            limits=self._limits,
            pull_failing_since=self._pull_failing_since,
        )

    def list(self) -> WorkerOutcome | None:
        """Reads the pod and the version to watch from; raises WorkerNotFound if never seen."""
        items = self._stream.list()
        if items:
            return self.observe(items[0])
        if self.pod is None:
            raise WorkerNotFound(f"pod {self._name!r} not found in namespace {self._namespace!r}")
        return deleted_outcome(self.pod)  # it vanished while we were not watching

    def watch_round(self) -> WorkerOutcome | None:
        """Watches from self.version until an outcome, a due deadline or the server's timeout."""
        next_check = self._next_check()
        if next_check is None:
            timeout = float(self._watch_timeout)
            # A silent, half-dead connection must not hang the round forever.
            read_timeout = timeout + STALL_SECONDS
        else:
            # Ends the round when the deadline comes due: the server's timeout is whole seconds.
            timeout = read_timeout = max(_MIN_ROUND_SECONDS, min(self._watch_timeout, next_check))
        round_ends = time.monotonic() + timeout
        try:
            with closing(self._stream.watch(timeout, read_timeout)) as events:
                for type_, pod in events:
                    if type_ == "DELETED":
                        return deleted_outcome(pod)
                    outcome = self.observe(pod)
                    if outcome is not None or self._stream.stopped:
                        return outcome
                    sooner = self._next_check()
                    if (
                        sooner is not None
                        and time.monotonic() + sooner < round_ends - _MIN_ROUND_SECONDS
                    ):
                        return None  # a deadline now comes due before this round would end
        except urllib3.exceptions.ReadTimeoutError:
            if time.monotonic() < round_ends:
                raise  # stalled before the round was due to end: a real failure
        return None

    def stop(self) -> None:
        """Ends a round in progress (from another thread): the wait was cancelled."""
        self._stream.stop()
