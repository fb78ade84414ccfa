"""Pure pool decisions: how many workers fit, which ones a ScaleDown takes, the answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from workflows.base.sizes import clip
from workflows.base.words import plural
from workflows.pool.models import PoolWorker, ScaleResult, ScaleStatus
from workflows.workers.spec import WorkerPhase

ACTIVE = frozenset({WorkerPhase.PENDING, WorkerPhase.RUNNING})
# Why a worker failed comes from the runtime; the pool keeps it in answers and notices.
MAX_REASON_CHARS = 512


def room_for(asked: int, active: int, cap: int) -> tuple[int, str]:
    """How many of `asked` new workers fit beside `active` ones under cap, and why not all."""
    room = max(0, cap - active)
    if asked <= room:
        return asked, ""
    return room, f"MAX_WORKERS_PER_TASK={cap} reached: the pool already has {active} workers"


def room_for_bytes(
    asked: int, request_bytes: int, worker_bytes: int, carried: int, budget: int
) -> tuple[int, str]:
    """How many of `asked` new workers fit beside what the pool carries, under budget."""
    room = max(0, (budget - carried - request_bytes) // worker_bytes)
    if asked <= room:
        return asked, ""
    return room, (
        f"build_config: a pool carries at most {budget} bytes of ScaleUps and their active "
        f"workers' specs; it carries {carried}, this ScaleUp {request_bytes} and each of "
        f"its workers about {worker_bytes}"
    )


def scale_down_victims(workers: Iterable[PoolWorker], target: int) -> list[PoolWorker]:
    """The active workers past target: pending before running, newest first within each."""
    active = [w for w in workers if w.phase in ACTIVE]
    ordered = sorted(active, key=lambda w: (w.phase is not WorkerPhase.PENDING, -w.index))
    return ordered[: max(0, len(active) - target)]


def reasons(problems: Iterable[str]) -> str:
    """Distinct problems once each, with a count when several workers share one."""
    counted = Counter(problems)
    text = "; ".join(text if n == 1 else f"{text} (x{n})" for text, n in counted.items())
    return clip(text, MAX_REASON_CHARS)


def _status(done: int, wanted: int, problems: Sequence[str]) -> ScaleStatus:
    if done == wanted and not problems:
        return ScaleStatus.SUCCESS
    return ScaleStatus.PARTIAL_SUCCESS if done else ScaleStatus.FAILED


def scale_up_result(
    task_id: str,
    asked: int,
    created: Sequence[str],
    problems: Sequence[str],
    started: datetime,
    completed: datetime,
) -> ScaleResult:
    count = len(created)
    status = _status(count, asked, problems)
    if status is ScaleStatus.SUCCESS:
        message = f"created {plural(count, 'worker')} for task {task_id}"
    else:
        made = f"{count} of {asked}" if count else f"none of {asked}"
        message = f"created {made} workers for task {task_id}: {reasons(problems)}"
    return ScaleResult(
        status=status,
        message=message,
        worker_names=tuple(created),
        started_at=started,
        completed_at=completed,
    )


def already_processed(answer: ScaleResult, request_id: str) -> ScaleResult:
    return answer.model_copy(
        update={
            "status": ScaleStatus.ALREADY_PROCESSED,
            "message": f"request_id {request_id!r} was already processed: {answer.message}",
        }
    )


def scale_down_result(
    task_id: str,
    deleted: Sequence[str],
    problems: Sequence[str],
    left: int,
    started: datetime,
    completed: datetime,
) -> ScaleResult:
    message = f"deleted {plural(len(deleted), 'worker')} of task {task_id}, {left} left"
    if problems:
        message += f": {reasons(problems)}"
    return ScaleResult(
        status=_status(len(deleted), len(deleted) + len(problems), problems),
        message=message,
        worker_names=tuple(deleted),
        started_at=started,
        completed_at=completed,
    )


def merge_results(
    results: Sequence[ScaleResult], target: int, started: datetime, completed: datetime
) -> ScaleResult:
    """One answer for a ScaleDown that applied target to every pool."""
    names = tuple(name for result in results for name in result.worker_names)
    statuses = {result.status for result in results}
    if statuses <= {ScaleStatus.SUCCESS}:
        status = ScaleStatus.SUCCESS
    elif statuses == {ScaleStatus.FAILED}:
        status = ScaleStatus.FAILED
    else:
        status = ScaleStatus.PARTIAL_SUCCESS
    pools, workers = plural(len(results), "pool"), plural(target, "worker")
    message = f"scaled {pools} to {workers}: deleted {len(names)}"
    troubles = [r.message for r in results if r.status is not ScaleStatus.SUCCESS]
    if troubles:
        message += f" ({'; '.join(troubles)})"
    return ScaleResult(
        status=status,
        message=message,
        worker_names=names,
        started_at=started,
        completed_at=completed,
    )
