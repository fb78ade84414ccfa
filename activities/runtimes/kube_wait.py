"""Following one pod until its worker's outcome is known: list once, then watch.

PodWatcher holds the state of one wait(): the last pod seen, the resourceVersion to
resume from, and since when ErrImagePull has persisted. Its blocking methods run in a
worker thread (the client is synchronous); KubernetesRuntime.wait drives them and owns
retries. A watch round ends when the server times it out, when a deadline of
kube_status.early_failure comes due, or on a disconnect, and the next round resumes from
`version`; a 410 Gone (version too old) sets `version` to None, which means list again.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

import urllib3.exceptions
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from activities.runtime import WorkerNotFound
from activities.runtimes.kube_status import (
    GRACE_REASONS,
    PendingLimits,
    Pod,
    decide,
    deleted_outcome,
    resource_version,
    seconds_to_next_check,
    waiting_reason,
)
from workflows.workers import WorkerOutcome

_GONE = 410
_CONNECT_SECONDS = 10.0
_STALL_SECONDS = 30.0
_MIN_ROUND_SECONDS = 0.05


def as_json(api: ApiClient, model: object) -> Any:
    """A client model as the raw JSON the API server sent (camelCase keys)."""
    return api.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]


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
        self._api = api
        self._core = CoreV1Api(api)
        self._namespace = namespace
        self._name = name
        self._limits = limits
        self._watch_timeout = watch_timeout
        self._pull_failing_since: datetime | None = None
        self._watch: Watch | None = None
        self._stopped = threading.Event()
        self.pod: Pod | None = None
        self.version: str | None = None

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
        pods = self._core.list_namespaced_pod(
            self._namespace, field_selector=f"metadata.name={self._name}"
        )
        raw = as_json(self._api, pods)
        self.version = str(raw["metadata"]["resourceVersion"])
        items = raw.get("items") or []
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
            read_timeout = timeout + _STALL_SECONDS
        else:
            # Ends the round when the deadline comes due: the server's timeout is whole seconds.
            timeout = read_timeout = max(_MIN_ROUND_SECONDS, min(self._watch_timeout, next_check))
        round_ends = time.monotonic() + timeout
        watch = self._watch = Watch()  # type: ignore[no-untyped-call]
        try:
            for event in watch.stream(  # type: ignore[no-untyped-call]
                self._core.list_namespaced_pod,
                self._namespace,
                field_selector=f"metadata.name={self._name}",
                resource_version=self.version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, math.ceil(timeout)),
                _request_timeout=(_CONNECT_SECONDS, read_timeout),
            ):
                pod = event["raw_object"]
                self.version = resource_version(pod) or self.version
                if event["type"] == "DELETED":
                    return deleted_outcome(pod)
                if event["type"] == "BOOKMARK":
                    continue
                outcome = self.observe(pod)
                if outcome is not None or self._stopped.is_set():
                    return outcome
                sooner = self._next_check()
                if (
                    sooner is not None
                    and time.monotonic() + sooner < round_ends - _MIN_ROUND_SECONDS
                ):
                    return None  # a deadline now comes due before this round would end
        except ApiException as exc:
            if exc.status != _GONE:
                raise
            self.version = None
        except urllib3.exceptions.ReadTimeoutError:
            if time.monotonic() < round_ends:
                raise  # stalled before the round was due to end: a real failure
        finally:
            self._watch = None
        return None

    def stop(self) -> None:
        """Ends a round in progress (from another thread): the wait was cancelled."""
        self._stopped.set()
        watch = self._watch
        if watch is not None:
            watch.stop()  # type: ignore[no-untyped-call]
