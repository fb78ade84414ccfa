"""Which managed workers are orphans: pure decisions for the reaper (workflows/reaper/workflow.py).

A worker's owner is a workflow, read from its labels: a pipeline worker belongs to the run
of `pipeline-<pipeline-id>` named by its ottoscaler.io/run label (a worker of an older run
is an orphan even while a newer run is open), a pool worker to `workers-<task-id>` in any
run (a pool carries its first run id across continue-as-new). A worker is an orphan when
that owner is not open, or when it has no owner at all; a worker younger than the grace
period is never one, so that a worker created a moment ago is never raced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from workflows.pool.specs import pool_workflow_id
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import Labels, StoredSecrets, WorkerInfo


class Owner(NamedTuple):
    workflow_id: str
    run_id: str | None  # None: any open run owns the worker


def owner_of(labels: Mapping[str, str]) -> Owner | None:
    """The workflow that owns a worker with these labels, None if nothing does."""
    pipeline_id = labels.get(Labels.PIPELINE_ID)
    if pipeline_id:
        return Owner(pipeline_workflow_id(pipeline_id), labels.get(Labels.RUN_ID, ""))
    task_id = labels.get(Labels.TASK_ID)
    if task_id:
        return Owner(pool_workflow_id(task_id), None)
    return None


def _past_grace(worker: WorkerInfo | StoredSecrets, now: datetime, grace: timedelta) -> bool:
    # A worker of unknown age is left alone: the reaper deletes only what it is sure of.
    return worker.created_at is not None and now - worker.created_at >= grace


def owners_to_check(
    workers: Iterable[WorkerInfo | StoredSecrets], now: datetime, grace: timedelta
) -> list[str]:
    """The workflow ids whose state decides about the workers past the grace period."""
    owners = {owner_of(w.labels) for w in workers if _past_grace(w, now, grace)}
    return sorted({owner.workflow_id for owner in owners if owner is not None})


def _owned(worker: WorkerInfo, open_runs: Mapping[str, str]) -> bool:
    owner = owner_of(worker.labels)
    if owner is None or owner.workflow_id not in open_runs:
        return False
    return owner.run_id is None or open_runs[owner.workflow_id] == owner.run_id


def orphans(
    workers: Iterable[WorkerInfo],
    open_runs: Mapping[str, str],
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """Names of the workers to delete. open_runs maps each open workflow id to its run id."""
    return sorted(
        w.name for w in workers if _past_grace(w, now, grace) and not _owned(w, open_runs)
    )


def orphan_secrets(
    stores: Iterable[StoredSecrets],
    open_stores: Mapping[str, str],
    now: datetime,
    grace: timedelta,
) -> list[str]:
    """Names of the secret stores to delete: past the grace period, and not the store of
    their pipeline's open run. open_stores maps each open pipeline's workflow id to the
    store its run names (a run's memo; a start that attached to a running run made a store
    no run uses)."""
    doomed = []
    for store in stores:
        owner = owner_of(store.labels)
        if not _past_grace(store, now, grace):
            continue
        if owner is None or open_stores.get(owner.workflow_id) != store.name:
            doomed.append(store.name)
    return sorted(doomed)
