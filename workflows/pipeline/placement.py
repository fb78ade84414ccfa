"""Where a stage runs: inside the pipeline's own history, or in a child workflow.

Inside is cheapest: no child to start, no signal to report back. But Temporal warns
when one history passes 10,240 events, so a pipeline whose stages could together write
more than HISTORY_BUDGET events moves its largest stages into StageWorkflow children
until the rest fits. The rule reads the spec alone, so a replay decides the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from workflows.pipeline.models import StageSpec

# What one history may plan for, below Temporal's 10,240-event warning with room for
# the workflow's own start, signals and end.
HISTORY_BUDGET = 8_000
# An activity is scheduled, started and completed, and at worst wakes a workflow task
# of its own (scheduled, started, completed).
EVENTS_PER_WORKER_RUN = 6
# A retry delay: the timer started and fired, and the workflow task it wakes.
EVENTS_PER_RETRY_DELAY = 5
# A child in its parent's history: initiated, started, completed, and a workflow task.
EVENTS_PER_CHILD = 6


def stage_events(stage: StageSpec) -> int:
    """The most history events a stage may write: every shard failing every attempt."""
    attempts = stage.attempts_allowed
    delays = attempts - 1 if stage.retry.retry_delay_seconds else 0
    return attempts * stage.worker_count * EVENTS_PER_WORKER_RUN + delays * EVENTS_PER_RETRY_DELAY


def child_stages(stages: Iterable[StageSpec]) -> frozenset[str]:
    """The stages that run in a child: the largest first, until the others fit."""
    ordered = list(stages)
    total = sum(stage_events(stage) for stage in ordered)
    children: set[str] = set()
    # sorted() is stable: among equal stages the earlier one moves first.
    for stage in sorted(ordered, key=stage_events, reverse=True):
        if total <= HISTORY_BUDGET:
            break
        total -= stage_events(stage) - EVENTS_PER_CHILD
        children.add(stage.stage_id)
    return frozenset(children)
