"""Cleanup stages: they run after every other stage has ended, whatever the outcome.

A cleanup stage (`cleanup: true`, type `cleanup`, or otto-handler's StageType CLEANUP)
waits for the rest of the pipeline to end: completed, failed, past its deadline or
cancelled. Then the cleanup stages run as a DAG of their own: a dependency on another
cleanup stage orders them; one on any other stage only lets `when` read its status, since
that stage has ended by then. No other stage may depend on a cleanup stage. They see the
outcome so far as `pipeline.status` in `when` and as OTTO_PIPELINE_STATUS in their
workers' environment. Each attempt has a bound of its own (timeout_seconds, or
DEFAULT_CLEANUP_TIMEOUT_SECONDS), so a cancelled pipeline still ends. Cleanup cannot
turn a failed or cancelled pipeline into a success; a failing cleanup stage fails a
pipeline that had succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from workflows.base.checks import SpecError
from workflows.pipeline.dag import Graph
from workflows.pipeline.models import PipelineSpec, StageSpec, StageStatus

CLEANUP_TYPE = "cleanup"
DEFAULT_CLEANUP_TIMEOUT_SECONDS = 600


def split_graph(stages: Iterable[StageSpec]) -> tuple[Graph, Graph]:
    """(the stages that run first, the cleanup stages with only their cleanup dependencies)."""
    stages = tuple(stages)
    cleanup = {s.stage_id for s in stages if s.cleanup}
    first = {s.stage_id: s.depends_on for s in stages if not s.cleanup}
    last = {s.stage_id: tuple(d for d in s.depends_on if d in cleanup) for s in stages if s.cleanup}
    return first, last


def bounded(stage: StageSpec) -> StageSpec:
    """A cleanup stage without a timeout gets the default one (the gateway signs it so)."""
    if stage.cleanup and not stage.timeout_seconds:
        return stage.model_copy(update={"timeout_seconds": DEFAULT_CLEANUP_TIMEOUT_SECONDS})
    return stage


def check_cleanup(spec: PipelineSpec) -> None:
    """Raises SpecError: a stage depends on a cleanup stage, or a cleanup stage has no bound."""
    cleanup = {s.stage_id for s in spec.stages if s.cleanup}
    for index, stage in enumerate(spec.stages):
        if stage.cleanup and not stage.timeout_seconds:
            raise SpecError(
                f"stages[{index}].timeout_seconds",
                "a cleanup stage needs a bound; the gateway sets "
                f"{DEFAULT_CLEANUP_TIMEOUT_SECONDS} when it is 0",
            )
        if stage.cleanup:
            continue
        for dep in stage.depends_on:
            if dep in cleanup:
                raise SpecError(
                    f"stages[{index}].depends_on",
                    f"stage {stage.stage_id!r} depends on cleanup stage {dep!r}; cleanup runs "
                    "after every other stage, so only cleanup stages may depend on it",
                )


def outcome_so_far(
    statuses: Mapping[str, StageStatus], first: Graph, passed: AbstractSet[str], late: bool
) -> StageStatus:
    """What cleanup sees of a pipeline that was not cancelled: COMPLETED when every other
    stage completed (or was skipped by a condition) in time, else FAILED."""
    ok = all(statuses[s] is StageStatus.COMPLETED or s in passed for s in first)
    return StageStatus.COMPLETED if ok and not late else StageStatus.FAILED
