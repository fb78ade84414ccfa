"""A pool's bookkeeping: reservations under the cap, worker lifecycles, totals, snapshots."""

from __future__ import annotations

from datetime import UTC, datetime

from workflows.pool.book import ANSWER_MEMORY, PoolBook
from workflows.pool.models import PoolState, PoolTotals, ScaleResult, ScaleStatus, ScaleUpRequest
from workflows.workers.spec import WorkerPhase

NOW = datetime(2025, 9, 1, tzinfo=UTC)


def book() -> PoolBook:
    return PoolBook("task-1", PoolState(run="run-1"))


def request(count: int) -> ScaleUpRequest:
    return ScaleUpRequest(task_id="task-1", worker_count=count, image="busybox")


def test_reserved_workers_count_against_the_cap_before_they_exist() -> None:
    b = book()
    key, indices = b.reserve(request(3), 3)
    assert list(indices) == [0, 1, 2]
    assert (b.active(), b.empty) == (3, False)
    _, more = b.reserve(request(2), 2)
    assert list(more) == [3, 4]  # concurrent ScaleUps never share an index
    b.created(key, "w0", 0, WorkerPhase.PENDING, NOW)
    b.not_created(key)
    assert b.active() == 4
    assert b.totals == PoolTotals(created=1)


def test_a_worker_runs_finishes_and_is_removed_once() -> None:
    b = book()
    key, _ = b.reserve(request(1), 1)
    b.created(key, "w0", 0, WorkerPhase.PENDING, NOW)
    assert b.started("w0")
    assert not b.started("w0")  # already running
    assert b.finished("w0", succeeded=False, now=NOW)
    assert not b.finished("w0", succeeded=True, now=NOW)  # ended once
    assert b.workers["w0"].phase is WorkerPhase.FAILED
    assert b.active() == 0
    b.remove("w0")
    assert b.empty
    assert b.requests == {}  # the ScaleUp is forgotten with its last worker
    assert b.totals == PoolTotals(created=1, failed=1)


def test_a_worker_being_deleted_is_no_longer_followed_or_counted() -> None:
    b = book()
    key, _ = b.reserve(request(2), 2)
    b.created(key, "w0", 0, WorkerPhase.RUNNING, NOW)
    b.created(key, "w1", 1, WorkerPhase.RUNNING, NOW)
    b.deleting.add("w1")
    assert (b.following("w0"), b.following("w1")) == (True, False)
    assert b.active() == 1
    assert not b.finished("w1", succeeded=True, now=NOW)
    b.remove("w1", terminated=True)
    assert b.totals == PoolTotals(created=2, terminated=1)
    assert "#0" in b.requests  # w0 still belongs to it


def test_answers_are_bounded_oldest_first() -> None:
    b = book()
    answer = ScaleResult(status=ScaleStatus.SUCCESS, message="ok", started_at=NOW, completed_at=NOW)
    for n in range(ANSWER_MEMORY + 5):
        b.remember(f"r{n}", answer)
    assert len(b.answers) == ANSWER_MEMORY
    assert "r0" not in b.answers
    assert f"r{ANSWER_MEMORY + 4}" in b.answers


def test_a_snapshot_restores_the_same_book() -> None:
    b = book()
    key, _ = b.reserve(request(2), 2)
    b.created(key, "w0", 0, WorkerPhase.RUNNING, NOW)
    b.created(key, "w1", 1, WorkerPhase.PENDING, NOW)
    b.finished("w0", succeeded=True, now=NOW)
    again = PoolBook("task-1", b.snapshot())
    assert again.snapshot() == b.snapshot()
    assert again.next_index == 2
    assert again.worker_spec(again.workers["w1"]).name == b.worker_spec(b.workers["w1"]).name
