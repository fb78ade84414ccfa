"""The pool's pure decisions: room under the cap, ScaleDown's victims, answers, specs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.base.checks import SpecError
from workflows.pool.models import PoolWorker, ScaleResult, ScaleStatus, ScaleUpRequest
from workflows.pool.plan import (
    ACTIVE,
    merge_results,
    room_for,
    scale_down_victims,
    scale_up_result,
)
from workflows.pool.specs import pool_worker_spec
from workflows.pool.validation import validate_scale_up
from workflows.workers.naming import DNS1123_LABEL
from workflows.workers.spec import WorkerPhase

NOW = datetime(2025, 9, 1, tzinfo=UTC)


def worker(index: int, phase: WorkerPhase) -> PoolWorker:
    return PoolWorker(name=f"w{index}", index=index, request_key="#0", phase=phase, created_at=NOW)


@pytest.mark.parametrize(
    ("asked", "active", "cap", "allowed"),
    [(3, 0, 10, 3), (6, 6, 10, 4), (1, 10, 10, 0), (2, 12, 10, 0)],
)
def test_room_for_never_passes_the_cap(asked: int, active: int, cap: int, allowed: int) -> None:
    count, why = room_for(asked, active, cap)
    assert count == allowed
    assert (why == "") == (allowed == asked)
    if why:
        assert f"MAX_WORKERS_PER_TASK={cap}" in why


@given(
    phases=st.lists(st.sampled_from(list(WorkerPhase)), max_size=30),
    target=st.integers(min_value=0, max_value=35),
)
def test_victims_are_the_surplus_pending_first_then_newest(
    phases: list[WorkerPhase], target: int
) -> None:
    workers = [worker(index, phase) for index, phase in enumerate(phases)]
    victims = scale_down_victims(workers, target)
    active = [w for w in workers if w.phase in ACTIVE]
    assert len(victims) == max(0, len(active) - target)
    assert all(v.phase in ACTIVE for v in victims)
    order = [(v.phase is not WorkerPhase.PENDING, -v.index) for v in victims]
    assert order == sorted(order)
    kept = [w for w in active if w not in victims]
    if victims and kept:  # nothing kept ranks before a victim
        worst_victim = max(order)
        assert all((k.phase is not WorkerPhase.PENDING, -k.index) > worst_victim for k in kept)


@pytest.mark.parametrize(
    ("created", "problems", "status", "words"),
    [
        (3, [], ScaleStatus.SUCCESS, "created 3 workers for task t1"),
        (
            2,
            ["cap reached"],
            ScaleStatus.PARTIAL_SUCCESS,
            "created 2 of 3 workers for task t1: cap reached",
        ),
        (0, ["bad", "bad"], ScaleStatus.FAILED, "created none of 3 workers for task t1: bad (x2)"),
    ],
)
def test_scale_up_answers(
    created: int, problems: list[str], status: ScaleStatus, words: str
) -> None:
    names = [f"w{i}" for i in range(created)]
    answer = scale_up_result("t1", 3, names, problems, NOW, NOW)
    assert answer.status is status
    assert words in answer.message
    assert answer.worker_names == tuple(names)


def test_merged_answer_of_every_pool() -> None:
    def result(status: ScaleStatus, *names: str) -> ScaleResult:
        return ScaleResult(
            status=status,
            message=status.value,
            worker_names=names,
            started_at=NOW,
            completed_at=NOW,
        )

    ok = merge_results(
        [result(ScaleStatus.SUCCESS, "a"), result(ScaleStatus.SUCCESS, "b")], 0, NOW, NOW
    )
    assert (ok.status, ok.worker_names) == (ScaleStatus.SUCCESS, ("a", "b"))
    mixed = merge_results(
        [result(ScaleStatus.SUCCESS, "a"), result(ScaleStatus.FAILED)], 1, NOW, NOW
    )
    assert mixed.status is ScaleStatus.PARTIAL_SUCCESS and "FAILED" in mixed.message
    none = merge_results([], 0, NOW, NOW)
    assert (none.status, none.worker_names) == (ScaleStatus.SUCCESS, ())


def test_a_worker_spec_carries_build_config_and_the_task_identity() -> None:
    request = ScaleUpRequest(
        task_id="t1",
        worker_count=4,
        repository="otto/demo",
        commit_sha="abc123",
        build_config={"GREETING": "hi", "mock.duration": "2", "not an env": "x"},
        image="busybox:latest",
        command=("sh", "-c", "true"),
    )
    spec = pool_worker_spec("t1", "run-1", request, 7)
    assert spec.env == {
        "GREETING": "hi",
        "OTTO_TASK_ID": "t1",
        "OTTO_WORKER_INDEX": "7",
        "OTTO_WORKER_COUNT": "4",
        "OTTO_ATTEMPT": "1",
        "OTTO_REPOSITORY": "otto/demo",
        "OTTO_COMMIT_SHA": "abc123",
    }
    assert spec.config["mock.duration"] == "2"
    assert spec.labels["managed-by"] == "ottoscaler" and spec.labels["task-id"] == "t1"
    assert (spec.image, spec.command) == ("busybox:latest", ("sh", "-c", "true"))
    assert spec == pool_worker_spec("t1", "run-1", request, 7)  # deterministic
    assert spec.name != pool_worker_spec("t1", "run-2", request, 7).name  # another pool's


def test_long_task_ids_still_make_dns_names() -> None:
    request = ScaleUpRequest(task_id="t" * 63, worker_count=1)
    name = pool_worker_spec("t" * 63, "run-1", request, 12).name
    assert len(name) <= 63 and DNS1123_LABEL.match(name)


def test_validation_names_the_limit() -> None:
    with pytest.raises(SpecError, match="worker_count: 51 is over MAX_WORKERS_PER_TASK=50"):
        validate_scale_up(ScaleUpRequest(task_id="t1", worker_count=51), 50)
