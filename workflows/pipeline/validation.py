"""Request validation: every problem names the field, nothing is started on a bad spec.

The gateway runs this before starting a workflow (INVALID_ARGUMENT); the workflow runs
it again, since anyone with a Temporal client can start one.
"""

from __future__ import annotations

from workflows.base.checks import (
    Limits,
    SpecError,
    check_identity,
    check_label_value,
    check_map,
    check_range,
    check_text,
)
from workflows.base.sizes import MAX_PAYLOAD_BYTES, WORKFLOW_TASK_BYTES_BUDGET, json_bytes
from workflows.pipeline.approval import answers_bytes, check_approval_stage, is_approval
from workflows.pipeline.cleanup import check_cleanup
from workflows.pipeline.conditions import check_condition
from workflows.pipeline.dag import find_cycle
from workflows.pipeline.matrix import check_matrix
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.pipeline.placement import (
    HISTORY_BYTES_BUDGET,
    HISTORY_EVENTS_BUDGET,
    place,
    stage_bytes,
    stage_events,
    worker_spec_bytes,
)
from workflows.pipeline.progress import SNAPSHOT_BYTES_BUDGET, snapshot_bytes
from workflows.pipeline.secrets import check_pipeline_secrets
from workflows.workers.naming import name_part
from workflows.workers.signed import unsigned_chars
from workflows.workers.spec import (
    MAX_PENDING_TIMEOUT_SECONDS,
    PENDING_TIMEOUT_KEY,
    parse_pending_timeout,
)

# Every number has a range: a CI stage runs for at most a week, waits at most a day.
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
MAX_RETRY_DELAY_SECONDS = 24 * 3600
# A stage's shards are scheduled in one workflow task, whose commands travel in one gRPC
# message of at most 4 MiB (workflows/base/sizes.py).
MAX_ATTEMPT_BYTES = 2 * 1024 * 1024


def _check_stage(field: str, stage: StageSpec, limits: Limits) -> None:
    check_label_value(f"{field}.stage_id", stage.stage_id)
    if stage.matrix:
        check_matrix(field, stage.matrix, stage.worker_count, limits)
    if not 1 <= stage.worker_count <= limits.max_workers_per_stage:
        raise SpecError(
            f"{field}.worker_count",
            f"{stage.worker_count} is outside 1..{limits.max_workers_per_stage} "
            "(0 means 1; the limit is MAX_WORKERS_PER_TASK)",
        )
    if stage.timeout_seconds < 0:
        raise SpecError(f"{field}.timeout_seconds", f"{stage.timeout_seconds} is negative")
    check_range(f"{field}.timeout_seconds", stage.timeout_seconds, 0, MAX_TIMEOUT_SECONDS, " s")
    if stage.retry.max_attempts < 0:
        raise SpecError(
            f"{field}.retry_policy.max_attempts", f"{stage.retry.max_attempts} is negative"
        )
    if stage.retry.retry_delay_seconds < 0:
        raise SpecError(
            f"{field}.retry_policy.retry_delay_seconds",
            f"{stage.retry.retry_delay_seconds} is negative",
        )
    check_range(
        f"{field}.retry_policy.retry_delay_seconds",
        stage.retry.retry_delay_seconds,
        0,
        MAX_RETRY_DELAY_SECONDS,
        " s",
    )
    for n, word in enumerate(stage.command):
        check_text(f"{field}.command[{n}]", word)
    for n, word in enumerate(stage.args):
        check_text(f"{field}.args[{n}]", word)
    check_map(f"{field}.config", stage.config, limits)
    _check_pending_timeout(f"{field}.config[{PENDING_TIMEOUT_KEY!r}]", stage.config)
    _check_fits_one_history(field, stage)


def _check_pending_timeout(field: str, config: dict[str, str]) -> None:
    raw = config.get(PENDING_TIMEOUT_KEY)
    if raw is not None and parse_pending_timeout(raw) is None:
        raise SpecError(
            field, f"{raw[:20]!r} is not a whole number of seconds 0..{MAX_PENDING_TIMEOUT_SECONDS}"
        )


def request_bytes(spec: PipelineSpec) -> int:
    """What the request weighs as Temporal stores it, its stages signed."""
    return json_bytes(spec) + sum(unsigned_chars(s.signature) for s in spec.stages)


def _check_payload(spec: PipelineSpec) -> None:
    """The whole request is the workflow's input: one payload."""
    size = request_bytes(spec)
    if size > MAX_PAYLOAD_BYTES:
        raise SpecError(
            "request", f"is {size} bytes as Temporal stores it, at most {MAX_PAYLOAD_BYTES}"
        )


def _check_workflow_tasks(stages: tuple[StageSpec, ...]) -> None:
    """Even with the largest stages in children, what one workflow task may start must fit."""
    planned = place(stages).task_bytes
    if planned > WORKFLOW_TASK_BYTES_BUDGET:
        raise SpecError(
            "stages",
            f"may start {planned} bytes of workers' and stages' specs in one workflow task, "
            f"at most {WORKFLOW_TASK_BYTES_BUDGET}",
        )


def _check_progress(stages: tuple[StageSpec, ...]) -> None:
    """Every query answer carries the snapshot: every stage's state and workers' names,
    and the approvers' answers."""
    size = snapshot_bytes(stages) + answers_bytes(stages)
    if size > SNAPSHOT_BYTES_BUDGET:
        workers = sum(s.worker_count for s in stages)
        raise SpecError(
            "stages",
            f"{len(stages)} stages of {workers} workers in all make the pipeline's progress "
            f"about {size} bytes, at most {SNAPSHOT_BYTES_BUDGET}",
        )


def _check_worker_names(stages: tuple[StageSpec, ...]) -> None:
    """Stage ids that differ only in case, '_' or '.' would give their workers one name."""
    seen: dict[str, int] = {}
    for index, stage in enumerate(stages):
        part = name_part(stage.stage_id)
        if part in seen:
            other = seen[part]
            raise SpecError(
                f"stages[{index}].stage_id",
                f"{stage.stage_id!r} and stages[{other}].stage_id {stages[other].stage_id!r} "
                "name their workers alike; stage ids must differ in more than case, '_' and '.'",
            )
        seen[part] = index


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
    spec_bytes = worker_spec_bytes(stage)
    if spec_bytes > MAX_PAYLOAD_BYTES:
        raise SpecError(
            f"{field}.config",
            f"makes each worker's spec about {spec_bytes} bytes, at most {MAX_PAYLOAD_BYTES}",
        )
    if stage.worker_count * spec_bytes > MAX_ATTEMPT_BYTES:
        raise SpecError(
            f"{field}.config",
            f"with {stage.worker_count} workers makes the specs an attempt starts together "
            f"about {stage.worker_count * spec_bytes} bytes, at most {MAX_ATTEMPT_BYTES}",
        )
    size = stage_bytes(stage)
    if size > HISTORY_BYTES_BUDGET:
        raise SpecError(
            f"{field}.config",
            f"{runs} with this config may write {size} bytes of history, "
            f"at most {HISTORY_BYTES_BUDGET} fit one stage's history",
        )


def validate_pipeline(spec: PipelineSpec, limits: Limits, approval_stages: bool = True) -> None:
    """Raises SpecError for the first problem found, in field order. approval_stages:
    False for a run that began before them, where an `approval` stage ran workers."""
    check_label_value("pipeline_id", spec.pipeline_id)
    check_identity(
        {
            "name": spec.name,
            "repository": spec.repository,
            "commit_sha": spec.commit_sha,
            "triggered_by": spec.triggered_by,
        }
    )
    check_map("metadata", spec.metadata, limits)
    check_range("timeout_seconds", spec.timeout_seconds, 0, MAX_TIMEOUT_SECONDS, " s")
    if not spec.stages:
        raise SpecError("stages", "must contain at least one stage")
    if len(spec.stages) > limits.max_stages:
        raise SpecError("stages", f"has {len(spec.stages)} stages, at most {limits.max_stages}")
    seen: dict[str, int] = {}
    for index, stage in enumerate(spec.stages):
        field = f"stages[{index}]"
        _check_stage(field, stage, limits)
        if approval_stages and is_approval(stage):
            check_approval_stage(field, stage)
        if stage.stage_id in seen:
            raise SpecError(
                f"{field}.stage_id",
                f"{stage.stage_id!r} is already used by stages[{seen[stage.stage_id]}]",
            )
        seen[stage.stage_id] = index
    _check_worker_names(spec.stages)
    check_pipeline_secrets(spec, limits)
    for index, stage in enumerate(spec.stages):
        for dep in stage.depends_on:
            if dep not in seen:
                raise SpecError(f"stages[{index}].depends_on", f"unknown stage {dep!r}")
        if stage.when:
            check_condition(f"stages[{index}].when", stage)
    check_cleanup(spec)
    cycle = find_cycle({s.stage_id: s.depends_on for s in spec.stages})
    if cycle:
        index = seen[cycle[0]]
        raise SpecError(f"stages[{index}].depends_on", "dependency cycle: " + " -> ".join(cycle))
    _check_payload(spec)
    _check_progress(spec.stages)
    _check_workflow_tasks(spec.stages)
