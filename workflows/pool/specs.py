"""Pool workers' names, labels and WorkerSpecs: pure functions of (task, pool run, index).

The pool hands out indices in its own state before creating anything, so a replayed or
retried create asks for the same name and the runtime adopts the worker it made before.
"""

from __future__ import annotations

from workflows.base.sizes import json_bytes
from workflows.pool.models import ScaleUpRequest
from workflows.workers.naming import dns_safe_name, short_hash
from workflows.workers.signed import unsigned_chars
from workflows.workers.spec import (
    MANAGED_BY,
    Labels,
    WorkerSpec,
    env_from_config,
    pending_timeout,
)

# Marks a pool worker (pipeline workers carry pipeline-id instead) and orders it by age.
POOL_INDEX_LABEL = Labels.POOL_INDEX
WORKFLOW_ID_PREFIX = "workers-"
# What a pool may carry (workflows/base/sizes.py has Temporal's limits): the ScaleUps it
# keeps, which are the state it continues as new with, and its active workers' specs. One
# ScaleUp's specs go to Temporal in one activity input (create_workers), and the pool may
# schedule an await per active worker, carrying its spec, in one workflow task.
POOL_BYTES_BUDGET = 1024 * 1024
# Besides its build_config twice (as config and as environment), a spec holds labels,
# names and the task identity: well under 2 KiB.
_SPEC_OVERHEAD_BYTES = 2 * 1024


def pool_workflow_id(task_id: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}{task_id}"


def pool_worker_name(task_id: str, index: int, run: str) -> str:
    return dns_safe_name("otto-agent", task_id, str(index), short_hash(run, 6))


def pool_worker_spec(task_id: str, run: str, request: ScaleUpRequest, index: int) -> WorkerSpec:
    env = env_from_config(request.build_config)
    env.update(
        OTTO_TASK_ID=task_id,
        OTTO_WORKER_INDEX=str(index),
        OTTO_WORKER_COUNT=str(request.worker_count),
        OTTO_ATTEMPT="1",
        OTTO_REPOSITORY=request.repository,
        OTTO_COMMIT_SHA=request.commit_sha,
    )
    return WorkerSpec(
        name=pool_worker_name(task_id, index, run),
        labels={
            Labels.MANAGED_BY: MANAGED_BY,
            Labels.TASK_ID: task_id,
            Labels.RUN_ID: run,
            POOL_INDEX_LABEL: str(index),
        },
        env=env,
        image=request.image,
        command=request.command,
        config=dict(request.build_config),
        pending_timeout_seconds=pending_timeout(request.build_config),
        summary=f"pool {task_id} · worker {index}",
        signature=request.signature,
    )


def worker_spec_bytes(request_bytes: int) -> int:
    """At most what a WorkerSpec of a ScaleUp of `request_bytes` weighs: the request twice
    (its build_config is both config and environment), and 2 KiB."""
    return 2 * request_bytes + _SPEC_OVERHEAD_BYTES


def request_bytes(request: ScaleUpRequest) -> int:
    """What a ScaleUp weighs as Temporal stores it, signed."""
    return json_bytes(request) + unsigned_chars(request.signature)


def scale_up_bytes(request: ScaleUpRequest, count: int) -> int:
    """What a pool carries for a ScaleUp with `count` active workers."""
    size = request_bytes(request)
    return size + count * worker_spec_bytes(size)
