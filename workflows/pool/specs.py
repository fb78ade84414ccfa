"""Pool workers' names, labels and WorkerSpecs: pure functions of (task, pool run, index).

The pool hands out indices in its own state before creating anything, so a replayed or
retried create asks for the same name and the runtime adopts the worker it made before.
"""

from __future__ import annotations

from workflows.pool.models import ScaleUpRequest
from workflows.workers.naming import dns_safe_name, short_hash
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
