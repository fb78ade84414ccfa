"""Watching pods: list once, then watch from the list's resourceVersion, resuming after
every disconnect from the last version seen, and listing again only on 410 Gone.

PodStream is that mechanism for one selector; wait follows one pod with it and
PodFeed turns a label selector's pods into WorkerRuntime.watch's change feed. Their
methods block (the client is synchronous) and run in a worker thread; `follow` drives a
PodFeed from the event loop, one event per thread hop, and owns its retries.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterator
from contextlib import closing
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from activities.runtimes.kubernetes.bodies import Pod, WatchEvent, WatchEventType, as_json
from activities.runtimes.kubernetes.errors import CLIENT_ERRORS, Retry
from activities.runtimes.kubernetes.status import resource_version, worker_info
from activities.runtimes.protocol import WorkerEvent, WorkerEventKind
from workflows.workers.spec import WorkerInfo

GONE = 410
CONNECT_SECONDS = 10.0
# A watch round may stay silent this long past its server-side timeout before it counts
# as a half-dead connection.
STALL_SECONDS = 30.0

# Runs a blocking call in the runtime's watch thread pool.
Runner = Callable[..., Awaitable[Any]]


class PodStream:
    """List-then-watch over the pods of one namespace and selector; blocking."""

    def __init__(
        self, api: ApiClient, namespace: str, *, labels: str = "", fields: str = ""
    ) -> None:
        self._api = api
        # A None selector is left out of the request.
        self._list = functools.partial(
            CoreV1Api(api).list_namespaced_pod,
            namespace,
            label_selector=labels or None,
            field_selector=fields or None,
        )
        self._watch: Watch | None = None
        self._stopped = threading.Event()
        # Where the next watch resumes; None after a 410 Gone: list again.
        self.version: str | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def list(self) -> list[Pod]:
        """The pods now; the next watch starts from this list's version."""
        pods = as_json(self._api, self._list())
        self.version = pods["metadata"]["resourceVersion"]
        return list(pods.get("items") or [])

    def watch(
        self, timeout: float, read_timeout: float
    ) -> Generator[tuple[WatchEventType, Pod], None, None]:
        """(event type, pod) from self.version on, until the server ends the request after
        timeout, a 410 Gone (version becomes None) or stop(). Bookmarks only move version.
        """
        if self.stopped:
            return  # stopped before this round began: nothing would end it early
        watch = self._watch = Watch()  # type: ignore[no-untyped-call]
        try:
            # Watch.stream is untyped: its events become typed JSON here.
            events: Iterator[WatchEvent] = watch.stream(  # type: ignore[no-untyped-call]
                self._list,
                resource_version=self.version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, math.ceil(timeout)),
                _request_timeout=(CONNECT_SECONDS, read_timeout),
            )
            for event in events:
                pod = event["raw_object"]
                self.version = resource_version(pod) or self.version
                if event["type"] != "BOOKMARK":
                    yield event["type"], pod
                if self.stopped:
                    return
        except ApiException as exc:
            if exc.status != GONE:
                raise
            self.version = None
        finally:
            self._watch = None

    def stop(self) -> None:
        """Ends a watch in progress from another thread: its consumer went away."""
        self._stopped.set()
        watch = self._watch
        if watch is not None:
            watch.stop()  # type: ignore[no-untyped-call]


class PodFeed:
    """The change feed of the pods matching one label selector, as WorkerEvents."""

    def __init__(self, api: ApiClient, namespace: str, selector: str, watch_timeout: int) -> None:
        self._stream = PodStream(api, namespace, labels=selector)
        self._timeout = watch_timeout
        self._known: dict[str, WorkerInfo] = {}

    def events(self) -> Generator[WorkerEvent, None, None]:
        """A SNAPSHOT if there is no version to resume from, then one watch round's changes."""
        if self._stream.version is None:
            infos = sorted((worker_info(pod) for pod in self._stream.list()), key=lambda w: w.name)
            self._known = {info.name: info for info in infos}
            yield WorkerEvent(WorkerEventKind.SNAPSHOT, tuple(infos))
        rounds = self._stream.watch(self._timeout, self._timeout + STALL_SECONDS)
        with closing(rounds):
            for type_, pod in rounds:
                info = worker_info(pod)
                if type_ == "DELETED":
                    self._known.pop(info.name, None)
                    yield WorkerEvent(WorkerEventKind.DELETE, (info,))
                elif self._known.get(info.name) != info:  # a status detail we do not report
                    self._known[info.name] = info
                    yield WorkerEvent(WorkerEventKind.UPSERT, (info,))

    def stop(self) -> None:
        self._stream.stop()


async def follow(feed: PodFeed, run: Runner, retry: Retry) -> AsyncGenerator[WorkerEvent]:
    """The feed's events, round after round, until the consumer stops or retry gives up."""
    try:
        while True:
            events = feed.events()
            while True:
                try:
                    event = await run(next, events, None)
                except CLIENT_ERRORS as exc:
                    await retry.failed(exc)  # the next round resumes from the last version
                    break
                retry.succeeded()
                if event is None:
                    break
                yield event
    finally:
        feed.stop()
