"""workflows.reaper.orphans: which managed workers the reaper deletes, and whose owners it asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflows.reaper.orphans import Owner, orphans, owner_of, owners_to_check
from workflows.workers.spec import MANAGED_BY, Labels, WorkerInfo, WorkerPhase

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=10)
OLD = NOW - timedelta(hours=1)
YOUNG = NOW - timedelta(minutes=1)
OPEN = {"pipeline-p1": "run-2", "workers-t1": "pool-run-9"}


def pipeline_worker(pipeline: str = "p1", run: str = "run-2") -> dict[str, str]:
    return {
        Labels.MANAGED_BY: MANAGED_BY,
        Labels.TASK_ID: pipeline,
        Labels.PIPELINE_ID: pipeline,
        Labels.RUN_ID: run,
    }


def pool_worker(task: str = "t1", run: str = "pool-run-1") -> dict[str, str]:
    return {Labels.MANAGED_BY: MANAGED_BY, Labels.TASK_ID: task, Labels.RUN_ID: run}


def worker(labels: dict[str, str], created_at: datetime | None = OLD) -> WorkerInfo:
    return WorkerInfo(name="w", phase=WorkerPhase.RUNNING, labels=labels, created_at=created_at)


@pytest.mark.parametrize(
    ("labels", "created_at", "deleted"),
    [
        (pipeline_worker(), OLD, False),
        (pipeline_worker(run="run-1"), OLD, True),
        (pipeline_worker(pipeline="p-closed"), OLD, True),
        (pipeline_worker(pipeline="p-closed"), YOUNG, False),
        (pipeline_worker(pipeline="p-closed"), NOW - GRACE, True),
        (pipeline_worker(pipeline="p-closed"), None, False),
        ({**pipeline_worker(), Labels.RUN_ID: ""}, OLD, True),
        ({**pipeline_worker(pipeline="p-closed"), Labels.TASK_ID: "t1"}, OLD, True),
        (pool_worker(), OLD, False),
        (pool_worker(task="t-closed"), OLD, True),
        (pool_worker(task="t-closed"), YOUNG, False),
        ({Labels.MANAGED_BY: MANAGED_BY}, OLD, True),
        ({Labels.MANAGED_BY: MANAGED_BY}, YOUNG, False),
    ],
    ids=[
        "pipeline-open-run",
        "pipeline-older-run-while-a-newer-is-open",
        "pipeline-closed",
        "pipeline-closed-but-young",
        "pipeline-closed-exactly-at-the-grace",
        "pipeline-closed-of-unknown-age",
        "pipeline-open-but-no-run-label",
        "pipeline-id-wins-over-an-open-pool-of-its-task-id",
        "pool-open-in-a-later-run",
        "pool-closed",
        "pool-closed-but-young",
        "no-owner-labels",
        "no-owner-labels-but-young",
    ],
)
def test_orphans(labels: dict[str, str], created_at: datetime | None, deleted: bool) -> None:
    assert orphans([worker(labels, created_at)], OPEN, NOW, GRACE) == (["w"] if deleted else [])


def test_orphans_are_named_in_order_among_kept_workers() -> None:
    workers = [
        WorkerInfo(name=name, phase=WorkerPhase.FAILED, labels=labels, created_at=OLD)
        for name, labels in [
            ("c", pipeline_worker(pipeline="gone")),
            ("b", pipeline_worker()),
            ("a", pool_worker(task="gone")),
        ]
    ]
    assert orphans(workers, OPEN, NOW, GRACE) == ["a", "c"]


@pytest.mark.parametrize(
    ("labels", "owner"),
    [
        (pipeline_worker(), Owner("pipeline-p1", "run-2")),
        ({**pipeline_worker(), Labels.RUN_ID: ""}, Owner("pipeline-p1", "")),
        (pool_worker(), Owner("workers-t1", None)),
        ({Labels.MANAGED_BY: MANAGED_BY}, None),
        ({Labels.PIPELINE_ID: "", Labels.TASK_ID: ""}, None),
    ],
    ids=["pipeline", "pipeline-without-run", "pool", "none", "empty-values"],
)
def test_owner_of(labels: dict[str, str], owner: Owner | None) -> None:
    assert owner_of(labels) == owner


def test_only_owners_of_workers_past_the_grace_are_asked_about_once_each() -> None:
    workers = [
        worker(pipeline_worker(run="run-1")),
        worker(pipeline_worker(run="run-2")),
        worker(pool_worker(task="t2"), YOUNG),
        worker(pool_worker()),
        worker({Labels.MANAGED_BY: MANAGED_BY}),
    ]
    assert owners_to_check(workers, NOW, GRACE) == ["pipeline-p1", "workers-t1"]


_ids = st.sampled_from(["p1", "t1", "gone", ""])
_labels = st.fixed_dictionaries(
    {},
    optional={
        Labels.PIPELINE_ID: _ids,
        Labels.TASK_ID: _ids,
        Labels.RUN_ID: st.sampled_from(["run-1", "run-2", ""]),
    },
)
_workers = st.lists(
    st.builds(
        WorkerInfo,
        name=st.text("abcdef", min_size=1, max_size=3),
        phase=st.sampled_from(WorkerPhase),
        labels=_labels,
        created_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    ),
    max_size=8,
    unique_by=lambda w: w.name,
)


@given(workers=_workers, open_runs=st.dictionaries(st.sampled_from(list(OPEN)), _ids))
def test_a_worker_younger_than_the_grace_is_never_deleted(
    workers: list[WorkerInfo], open_runs: dict[str, str]
) -> None:
    past_grace = {w.name for w in workers if w.created_at and NOW - w.created_at >= GRACE}
    assert set(orphans(workers, open_runs, NOW, GRACE)) <= past_grace
