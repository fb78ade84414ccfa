"""A pool's bookkeeping: its workers, the ScaleUps that made them, the answers given.

WorkerPoolWorkflow mutates it from its update handlers and worker tasks; snapshot()
is what continues as new. Indices are handed out here before anything is created, so
concurrent ScaleUps never share a worker or pass the pool's cap.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from workflows.pool.models import PoolState, PoolWorker, ScaleResult, ScaleUpRequest
from workflows.pool.plan import ACTIVE
from workflows.pool.specs import pool_worker_spec, scale_up_bytes
from workflows.workers.spec import WorkerPhase, WorkerSpec

# Answers remembered for repeated request_ids, oldest forgotten first; bounded so that
# the state a pool continues as new with stays far below Temporal's 2 MB payload limit.
ANSWER_MEMORY = 100


class PoolBook:
    def __init__(self, task_id: str, state: PoolState) -> None:
        self.task_id = task_id
        self.run = state.run
        self.next_index = state.next_index
        self.workers: dict[str, PoolWorker] = {w.name: w for w in state.workers}
        self.requests: dict[str, ScaleUpRequest] = dict(state.requests)
        self.answers: dict[str, ScaleResult] = dict(state.answers)
        self.totals = state.totals
        # Per request key: workers reserved whose create has not returned yet.
        self.creating: Counter[str] = Counter()
        self.deleting: set[str] = set()
        # request_ids whose ScaleUp is being processed right now.
        self.in_flight: set[str] = set()

    @property
    def empty(self) -> bool:
        return not self.workers and not self.creating.total()

    def active(self) -> int:
        """Workers counting against the cap: being created, pending or running."""
        live = sum(
            1 for w in self.workers.values() if w.phase in ACTIVE and w.name not in self.deleting
        )
        return self.creating.total() + live

    def carried_bytes(self) -> int:
        """What the pool carries: the ScaleUps it keeps (its state when it continues as
        new) and its active workers' specs (activities it may schedule in one task)."""
        active = Counter(w.request_key for w in self.workers.values() if w.phase in ACTIVE)
        active.update(self.creating)
        return sum(scale_up_bytes(request, active[key]) for key, request in self.requests.items())

    def reserve(self, request: ScaleUpRequest, count: int) -> tuple[str, range]:
        first = self.next_index
        self.next_index += count
        key = f"#{first}"  # unique: a request_id may come back once it is forgotten
        self.requests[key] = request
        self.creating[key] += count
        return key, range(first, first + count)

    def spec(self, key: str, index: int) -> WorkerSpec:
        return pool_worker_spec(self.task_id, self.run, self.requests[key], index)

    def worker_spec(self, worker: PoolWorker) -> WorkerSpec:
        return self.spec(worker.request_key, worker.index)

    def created(self, key: str, name: str, index: int, phase: WorkerPhase, now: datetime) -> None:
        self.creating[key] -= 1
        self.workers[name] = PoolWorker(
            name=name, index=index, request_key=key, phase=phase, created_at=now
        )
        self.totals = self.totals.plus(created=1)

    def not_created(self, key: str) -> None:
        self.creating[key] -= 1
        self._prune(key)

    def following(self, name: str) -> bool:
        """True while the worker is the pool's to follow: neither gone nor being deleted."""
        return name in self.workers and name not in self.deleting

    def started(self, name: str) -> bool:
        """Marks a pending worker running; False when it is no longer followed or ran."""
        worker = self.workers.get(name)
        if not self.following(name) or worker is None or worker.phase is not WorkerPhase.PENDING:
            return False
        self.workers[name] = worker.model_copy(update={"phase": WorkerPhase.RUNNING})
        return True

    def finished(self, name: str, succeeded: bool, now: datetime) -> bool:
        """Records the end of an active worker; False when no longer followed or ended."""
        worker = self.workers.get(name)
        if not self.following(name) or worker is None or worker.finished:
            return False
        phase = WorkerPhase.SUCCEEDED if succeeded else WorkerPhase.FAILED
        self.workers[name] = worker.model_copy(update={"phase": phase, "finished_at": now})
        self.totals = self.totals.plus(succeeded=int(succeeded), failed=int(not succeeded))
        return True

    def remove(self, name: str, terminated: bool = False) -> None:
        worker = self.workers.pop(name, None)
        self.deleting.discard(name)
        if worker is not None:
            if terminated:
                self.totals = self.totals.plus(terminated=1)
            self._prune(worker.request_key)

    def remember(self, request_id: str, answer: ScaleResult) -> None:
        self.answers[request_id] = answer
        while len(self.answers) > ANSWER_MEMORY:
            del self.answers[next(iter(self.answers))]

    def snapshot(self) -> PoolState:
        return PoolState(
            run=self.run,
            next_index=self.next_index,
            workers=tuple(self.workers.values()),
            requests=self.requests,
            answers=self.answers,
            totals=self.totals,
        )

    def _prune(self, key: str) -> None:
        """Forgets a ScaleUp once no worker of it is left or on its way."""
        in_use = self.creating[key] or any(w.request_key == key for w in self.workers.values())
        if not in_use:
            self.requests.pop(key, None)
            del self.creating[key]
