"""GetWorkerStatus from memory: every managed worker, kept current by the runtime's feed.

One watch on managed-by=ottoscaler (pools and pipelines alike) feeds the cache, so a
status call never lists workers: it reads a dict, and repeated questions between two
changes get the same answer object. Wire messages are built once per change, not per call.
After a feed failure the cache resubscribes and the new snapshot replaces what it had.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from activities.runtimes.feed import mirroring
from activities.runtimes.protocol import WorkerEvent, WorkerEventKind, WorkerRuntime
from gateway.errors import InvalidArgument, NotFound, Unavailable
from gateway.pools.wire import worker_to_wire
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.pool.specs import POOL_INDEX_LABEL
from workflows.workers.spec import MANAGED_BY, Labels, WorkerInfo, WorkerPhase

SYNC_TIMEOUT_SECONDS = 5.0
# Distinct questions remembered between two changes; more clears the memory.
ANSWER_MEMORY = 1024
_FILTERS = {phase.value: phase for phase in WorkerPhase}


def parse_status_filter(text: str) -> WorkerPhase | None:
    """'' means every status; the four phases are accepted in any case."""
    if not text:
        return None
    phase = _FILTERS.get(text.lower())
    if phase is None:
        raise InvalidArgument(
            f"status_filter: {text!r} is not one of {', '.join(_FILTERS)} (or empty for all)"
        )
    return phase


@dataclass(frozen=True)
class _Entry:
    info: WorkerInfo
    wire: pb.WorkerPodStatus


class WorkerStatusCache:
    def __init__(self, runtime: WorkerRuntime) -> None:
        self._runtime = runtime
        self._entries: dict[str, _Entry] = {}
        self._answers: dict[tuple[str, str, WorkerPhase | None], pb.WorkerStatusResponse] = {}
        self._synced = asyncio.Event()

    @asynccontextmanager
    async def following(self) -> AsyncIterator[WorkerStatusCache]:
        async with mirroring(self._runtime, {Labels.MANAGED_BY: MANAGED_BY}, self._apply):
            yield self

    def _apply(self, event: WorkerEvent) -> None:
        if event.kind is WorkerEventKind.SNAPSHOT:
            self._entries = {}
        for info in event.workers:
            if event.kind is WorkerEventKind.DELETE:
                self._entries.pop(info.name, None)
            else:
                self._entries[info.name] = _Entry(info, worker_to_wire(info))
        self._answers.clear()
        self._synced.set()

    def phase(self, name: str) -> WorkerPhase | None:
        """The worker's phase as last reported; None while the runtime does not list it."""
        entry = self._entries.get(name)
        return entry.info.phase if entry else None

    def phase_counts(self) -> Counter[WorkerPhase]:
        """Workers by phase; safe from another thread (the metrics endpoint's)."""
        return Counter(entry.info.phase for entry in list(self._entries.values()))

    def labels(self, name: str) -> dict[str, str] | None:
        """The worker's labels as last reported; None while the runtime does not list it."""
        entry = self._entries.get(name)
        return entry.info.labels if entry else None

    def pool_task_ids(self) -> set[str]:
        """Tasks that have pool workers (pipeline workers have no pool index)."""
        return {
            e.info.labels.get(Labels.TASK_ID, "")
            for e in self._entries.values()
            if POOL_INDEX_LABEL in e.info.labels
        }

    async def status(
        self, task_id: str, worker_pod_name: str, status_filter: str
    ) -> pb.WorkerStatusResponse:
        """Counts cover the task (or every worker); the list honours status_filter too."""
        phase = parse_status_filter(status_filter)
        if not self._synced.is_set():
            try:
                await asyncio.wait_for(self._synced.wait(), SYNC_TIMEOUT_SECONDS)
            except TimeoutError:
                raise Unavailable(
                    "worker status is not known yet: the runtime feed is down"
                ) from None
        key = (task_id, worker_pod_name, phase)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answer(task_id, worker_pod_name, phase)
            if len(self._answers) >= ANSWER_MEMORY:
                self._answers.clear()
            self._answers[key] = answer
        return answer

    def _answer(
        self, task_id: str, name: str, phase: WorkerPhase | None
    ) -> pb.WorkerStatusResponse:
        candidates: Iterable[_Entry] = self._entries.values()
        if name:
            candidates = [self._entries[name]] if name in self._entries else []
        chosen = [
            e for e in candidates if not task_id or e.info.labels.get(Labels.TASK_ID) == task_id
        ]
        if name and not chosen:
            where = f" of task {task_id!r}" if task_id else ""
            raise NotFound(f"worker_pod_name: no worker {name!r}{where}")
        counts = Counter(e.info.phase for e in chosen)
        return pb.WorkerStatusResponse(
            total_count=len(chosen),
            running_count=counts[WorkerPhase.RUNNING],
            pending_count=counts[WorkerPhase.PENDING],
            succeeded_count=counts[WorkerPhase.SUCCEEDED],
            failed_count=counts[WorkerPhase.FAILED],
            workers=[e.wire for e in chosen if phase is None or e.info.phase is phase],
        )
