"""Where a stage runs: inside the pipeline's own history, or in a child workflow.

Inside is cheapest: no child to start, no signal to report back. But Temporal warns
when one history passes 10,240 events or 10 MB, and fails a workflow task whose commands
pass 4 MiB (workflows/base/sizes.py). Any stages inside may start an attempt in the same
workflow task, each scheduling an activity with every worker's spec, while a stage in a
child costs its parent one command with the stage's spec. So a pipeline whose stages
could together write more than the history budgets below, or schedule more than a
workflow task's budget, moves its largest stages into StageWorkflow children until the
rest fits. The rule reads the spec alone, so a replay decides the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from workflows.base.sizes import WORKFLOW_TASK_BYTES_BUDGET, json_bytes
from workflows.pipeline.models import StageSpec
from workflows.workers.signed import unsigned_chars

# What one history may plan for, below Temporal's warnings with room for the workflow's
# own start, signals and end.
HISTORY_EVENTS_BUDGET = 8_000
HISTORY_BYTES_BUDGET = 8 * 1024 * 1024
# An activity is scheduled, started and completed, and at worst wakes a workflow task
# of its own (scheduled, started, completed).
EVENTS_PER_WORKER_RUN = 6
# Those events carry the worker's spec (the stage's config twice: as config and as
# environment) and about 2 KiB besides (measured: bench/scale.py).
BYTES_PER_WORKER_RUN = 2 * 1024
# A retry delay: the timer started and fired, and the workflow task it wakes.
EVENTS_PER_RETRY_DELAY = 5
# A child in its parent's history: initiated (with the stage's spec), started,
# completed, and a workflow task.
EVENTS_PER_CHILD = 6
BYTES_PER_CHILD = 2 * 1024


def worker_runs(stage: StageSpec) -> int:
    """The most worker runs a stage may make: every shard failing every attempt."""
    return stage.attempts_allowed * stage.worker_count


def stage_events(stage: StageSpec) -> int:
    attempts = stage.attempts_allowed
    delays = attempts - 1 if stage.retry.retry_delay_seconds else 0
    return worker_runs(stage) * EVENTS_PER_WORKER_RUN + delays * EVENTS_PER_RETRY_DELAY


class _Weight(NamedTuple):
    """What one stage may write: inline, and in its parent when it runs in a child."""

    stage: StageSpec
    events: int
    worker_spec: int
    size: int
    child_size: int

    @property
    def attempt(self) -> int:
        """What one attempt schedules in one workflow task: every worker's spec."""
        return self.stage.worker_count * self.worker_spec

    @property
    def share(self) -> float:
        """The largest of its shares of the budgets: what moving it saves."""
        return max(
            self.events / HISTORY_EVENTS_BUDGET,
            self.size / HISTORY_BYTES_BUDGET,
            self.attempt / WORKFLOW_TASK_BYTES_BUDGET,
        )


def _weigh(stage: StageSpec) -> _Weight:
    # Serialized once: the workflow decides placement on every start and every replay.
    spec = json_bytes(stage) + unsigned_chars(stage.signature)
    worker_spec = 2 * spec + BYTES_PER_WORKER_RUN
    return _Weight(
        stage=stage,
        events=stage_events(stage),
        worker_spec=worker_spec,
        size=worker_runs(stage) * worker_spec,
        child_size=spec + BYTES_PER_CHILD,
    )


def worker_spec_bytes(stage: StageSpec) -> int:
    """About what one of the stage's WorkerSpecs weighs as an activity's input."""
    return _weigh(stage).worker_spec


def stage_bytes(stage: StageSpec) -> int:
    return _weigh(stage).size


def child_bytes(stage: StageSpec) -> int:
    """What a stage in a child writes to its parent's history."""
    return _weigh(stage).child_size


class Placement(NamedTuple):
    children: frozenset[str]
    # What the commands of one workflow task of the pipeline may weigh at most: every
    # stage inside starting an attempt, and every child starting, at once.
    task_bytes: int


def place(stages: Iterable[StageSpec]) -> Placement:
    """The stages that run in a child: the largest first, until the others fit."""
    weights = [_weigh(stage) for stage in stages]
    events = sum(w.events for w in weights)
    size = sum(w.size for w in weights)
    task = sum(w.attempt for w in weights)
    children: set[str] = set()
    # sorted() is stable: among equal stages the earlier one moves first.
    for weight in sorted(weights, key=lambda w: w.share, reverse=True):
        if (
            events <= HISTORY_EVENTS_BUDGET
            and size <= HISTORY_BYTES_BUDGET
            and task <= WORKFLOW_TASK_BYTES_BUDGET
        ):
            break
        events -= weight.events - EVENTS_PER_CHILD
        size -= weight.size - weight.child_size
        task -= weight.attempt - weight.child_size
        children.add(weight.stage.stage_id)
    return Placement(frozenset(children), task)


def child_stages(stages: Iterable[StageSpec]) -> frozenset[str]:
    return place(stages).children
