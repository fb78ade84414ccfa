"""Request validation: every problem names the field, nothing is started on a bad spec.

The gateway runs this before starting a workflow (INVALID_ARGUMENT); the workflow runs
it again, since anyone with a Temporal client can start one.
"""

from __future__ import annotations

from workflows.base.checks import Limits, SpecError, check_label_value, check_map
from workflows.pipeline.dag import find_cycle
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.pipeline.placement import (
    HISTORY_BYTES_BUDGET,
    HISTORY_EVENTS_BUDGET,
    stage_bytes,
    stage_events,
)


def _check_stage(field: str, stage: StageSpec, limits: Limits) -> None:
    check_label_value(f"{field}.stage_id", stage.stage_id)
    if not 1 <= stage.worker_count <= limits.max_workers_per_stage:
        raise SpecError(
            f"{field}.worker_count",
            f"{stage.worker_count} is outside 1..{limits.max_workers_per_stage} "
            "(0 means 1; the limit is MAX_WORKERS_PER_TASK)",
        )
    if stage.timeout_seconds < 0:
        raise SpecError(f"{field}.timeout_seconds", f"{stage.timeout_seconds} is negative")
    if stage.retry.max_attempts < 0:
        raise SpecError(
            f"{field}.retry_policy.max_attempts", f"{stage.retry.max_attempts} is negative"
        )
    if stage.retry.retry_delay_seconds < 0:
        raise SpecError(
            f"{field}.retry_policy.retry_delay_seconds",
            f"{stage.retry.retry_delay_seconds} is negative",
        )
    check_map(f"{field}.config", stage.config, limits)
    _check_fits_one_history(field, stage)


def _check_fits_one_history(field: str, stage: StageSpec) -> None:
    """A stage's worst case (every shard failing every attempt) must fit one history."""
    runs = f"{stage.worker_count} workers x {stage.attempts_allowed} attempts"
    events = stage_events(stage)
    if events > HISTORY_EVENTS_BUDGET:
        raise SpecError(
            f"{field}.retry_policy.max_attempts",
            f"{runs} may write {events} history events, "
            f"at most {HISTORY_EVENTS_BUDGET} fit one stage's history",
        )
    size = stage_bytes(stage)
    if size > HISTORY_BYTES_BUDGET:
        raise SpecError(
            f"{field}.config",
            f"{runs} with this config may write {size} bytes of history, "
            f"at most {HISTORY_BYTES_BUDGET} fit one stage's history",
        )


def validate_pipeline(spec: PipelineSpec, limits: Limits) -> None:
    """Raises SpecError for the first problem found, in field order."""
    check_label_value("pipeline_id", spec.pipeline_id)
    check_map("metadata", spec.metadata, limits)
    if not spec.stages:
        raise SpecError("stages", "must contain at least one stage")
    if len(spec.stages) > limits.max_stages:
        raise SpecError("stages", f"has {len(spec.stages)} stages, at most {limits.max_stages}")
    seen: dict[str, int] = {}
    for index, stage in enumerate(spec.stages):
        field = f"stages[{index}]"
        _check_stage(field, stage, limits)
        if stage.stage_id in seen:
            raise SpecError(
                f"{field}.stage_id",
                f"{stage.stage_id!r} is already used by stages[{seen[stage.stage_id]}]",
            )
        seen[stage.stage_id] = index
    for index, stage in enumerate(spec.stages):
        for dep in stage.depends_on:
            if dep not in seen:
                raise SpecError(f"stages[{index}].depends_on", f"unknown stage {dep!r}")
    cycle = find_cycle({s.stage_id: s.depends_on for s in spec.stages})
    if cycle:
        index = seen[cycle[0]]
        raise SpecError(f"stages[{index}].depends_on", "dependency cycle: " + " -> ".join(cycle))
