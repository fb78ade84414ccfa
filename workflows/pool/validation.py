"""ScaleUp/ScaleDown validation: every problem names the field (and the limit it passed).

The gateway runs it before anything starts (INVALID_ARGUMENT); the pool's update
validator runs it again, since anyone with a Temporal client can send an update.
"""

from __future__ import annotations

from workflows.base.checks import (
    MAX_TEXT,
    Limits,
    SpecError,
    check_identity,
    check_label_value,
    check_map,
    check_short_text,
)
from workflows.pool.models import ScaleUpRequest
from workflows.pool.specs import POOL_BYTES_BUDGET, scale_up_bytes


def validate_scale_up(request: ScaleUpRequest, max_workers_per_task: int) -> None:
    check_label_value("task_id", request.task_id)
    count = request.worker_count
    if count < 1:
        raise SpecError("worker_count", f"{count} must be at least 1")
    if count > max_workers_per_task:
        raise SpecError(
            "worker_count", f"{count} is over MAX_WORKERS_PER_TASK={max_workers_per_task}"
        )
    check_map("build_config", request.build_config, Limits())
    check_identity(
        {
            "repository": request.repository,
            "commit_sha": request.commit_sha,
            "triggered_by": request.triggered_by,
            "reason": request.reason,
        }
    )
    check_short_text("metadata['request_id']", request.request_id, MAX_TEXT["request_id"])
    size = scale_up_bytes(request, count)
    if size > POOL_BYTES_BUDGET:
        raise SpecError(
            "build_config",
            f"with worker_count={count} makes the request and its workers' specs about {size} "
            f"bytes as Temporal stores them, at most {POOL_BYTES_BUDGET}",
        )


def validate_scale_down(task_id: str, target: int) -> None:
    """An empty task_id is valid: it scales every pool."""
    if task_id:
        check_label_value("task_id", task_id)
    if target < 0:
        raise SpecError(
            "worker_count", f"{target} is negative (it is the number of workers to keep)"
        )
