"""Bookkeeping shared by the runtimes without an API server (local, mock): one record per
worker, and the change feed over them.

The mock runtime keeps its workers in this process's memory only, so a restarted
Temporal worker does not know the workers of its predecessor: awaiting one reports the
failure WorkerLost, which the stage may retry. The local runtime's records are read back
from files (local/worker.py). A record reports its own changes to the runtime's WorkerFeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from activities.logs.lines import utcnow
from activities.runtimes.protocol import PermanentRuntimeError, WorkerEvent, WorkerEventKind
from activities.secrets.store import SecretsNotFound, SecretStore
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerPhase, WorkerSpec

WORKER_LOST = "WorkerLost"


@dataclass
class WorkerRecord:
    spec: WorkerSpec
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    outcome: WorkerOutcome | None = None
    on_change: Callable[[WorkerRecord], None] | None = None

    def info(self) -> WorkerInfo:
        outcome = self.outcome
        if outcome is not None:
            phase = WorkerPhase.SUCCEEDED if outcome.succeeded else WorkerPhase.FAILED
        else:
            phase = WorkerPhase.RUNNING if self.started_at else WorkerPhase.PENDING
        return WorkerInfo(
            name=self.spec.name,
            phase=phase,
            labels=self.spec.labels,
            created_at=self.created_at,
            started_at=self.started_at,
            completed_at=outcome.finished_at if outcome else None,
            node_name="localhost",
            pod_ip="127.0.0.1",
            error_message=outcome.failure_text if outcome else "",
        )

    def finish(
        self,
        exit_code: int | None,
        reason: str = "",
        message: str = "",
        at: datetime | None = None,
    ) -> WorkerOutcome:
        """at: when it ended, if not now."""
        succeeded = exit_code == 0 and not reason
        self.outcome = WorkerOutcome(
            name=self.spec.name,
            succeeded=succeeded,
            exit_code=exit_code,
            reason="" if succeeded else reason or "Error",
            message=message,
            started_at=self.started_at,
            finished_at=at or utcnow(),
        )
        self._changed()
        return self.outcome

    def start(self) -> None:
        self.started_at = utcnow()
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


def lost(name: str) -> WorkerOutcome:
    return WorkerOutcome(
        name=name,
        succeeded=False,
        reason=WORKER_LOST,
        message="the worker is unknown to this Ottoscaler process (it restarted?)",
    )


def _has(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def matching(records: Mapping[str, WorkerRecord], labels: Mapping[str, str]) -> list[WorkerInfo]:
    return [record.info() for record in records.values() if _has(record.spec.labels, labels)]


class WorkerFeed:
    """The change feed (WorkerRuntime.watch) over a runtime's records: one queue per watcher.

    Events are built only while someone watches, so a runtime nobody watches pays nothing.
    """

    def __init__(self, records: Mapping[str, WorkerRecord]) -> None:
        self._records = records
        self._queues: set[asyncio.Queue[WorkerEvent]] = set()

    def changed(self, record: WorkerRecord) -> None:
        # A record that was deleted meanwhile (its process ended after a kill) stays gone.
        if self._records.get(record.spec.name) is record:
            self._publish(WorkerEventKind.UPSERT, record)

    def removed(self, record: WorkerRecord) -> None:
        self._publish(WorkerEventKind.DELETE, record)

    def _publish(self, kind: WorkerEventKind, record: WorkerRecord) -> None:
        if self._queues:
            event = WorkerEvent(kind, (record.info(),))
            for queue in self._queues:
                queue.put_nowait(event)

    async def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        queue: asyncio.Queue[WorkerEvent] = asyncio.Queue()
        # Subscribing and taking the snapshot happen without a pause: no change is lost.
        self._queues.add(queue)
        try:
            yield WorkerEvent(WorkerEventKind.SNAPSHOT, tuple(matching(self._records, labels)))
            while True:
                event = await queue.get()
                if _has(event.workers[0].labels, labels):
                    yield event
        finally:
            self._queues.discard(queue)


async def secret_env(store: SecretStore, spec: WorkerSpec) -> dict[str, str]:
    """The worker's secret environment variables, read from the store as it starts. A store
    that is gone (its run ended) fails the worker as a missing Secret fails a pod."""
    refs = spec.secrets
    if refs is None:
        return {}
    try:
        values = await store.read(refs.store)
    except SecretsNotFound as err:
        raise PermanentRuntimeError(f"secrets: {err}") from err
    missing = sorted(name for name, key in refs.keys.items() if key not in values)
    if missing:
        raise PermanentRuntimeError(f"secrets: {refs.store!r} holds no {', '.join(missing)}")
    return {name: values[key] for name, key in refs.keys.items()}
