"""Where stages run: inline while the pipeline's history fits, the largest in children."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.builders import mock_stage
from workflows.base.sizes import WORKFLOW_TASK_BYTES_BUDGET
from workflows.pipeline.models import StageSpec
from workflows.pipeline.placement import (
    EVENTS_PER_CHILD,
    HISTORY_EVENTS_BUDGET,
    child_stages,
    place,
    stage_events,
)


def test_every_stage_of_a_usual_pipeline_runs_inline() -> None:
    stages = [mock_stage(f"s{n}", workers=5, max_attempts=3, retry_delay=10) for n in range(20)]
    assert child_stages(stages) == frozenset()


def test_a_thousand_one_worker_stages_fit_one_history() -> None:
    stages = [mock_stage(f"s{n}") for n in range(1000)]
    assert sum(stage_events(s) for s in stages) <= HISTORY_EVENTS_BUDGET
    assert child_stages(stages) == frozenset()


def test_the_largest_stages_move_first_and_ties_go_in_request_order() -> None:
    small = mock_stage("small", workers=2)
    big = [mock_stage(f"big-{n}", workers=50, max_attempts=10) for n in "abc"]
    assert child_stages([small, *big]) == frozenset({"big-a"})


def test_stages_that_would_start_too_much_in_one_workflow_task_move_to_children() -> None:
    """Four attempts of 1.4 MB each pass a workflow task's budget together."""
    config = {f"K{n}": "x" * 30_000 for n in range(11)}
    big = [StageSpec(stage_id=f"big-{n}", worker_count=2, config=config) for n in range(4)]
    placement = place(big)
    assert placement.children == frozenset({"big-0", "big-1", "big-2"})
    assert placement.task_bytes <= WORKFLOW_TASK_BYTES_BUDGET


def test_retry_delays_are_counted_only_when_there_is_a_delay() -> None:
    assert stage_events(mock_stage("a", max_attempts=3)) == 18
    assert stage_events(mock_stage("a", max_attempts=3, retry_delay=5)) == 18 + 2 * 5


@given(
    st.lists(
        st.tuples(
            st.integers(1, 50), st.integers(1, 10), st.integers(0, 1), st.integers(0, 100_000)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_what_stays_inline_always_fits(shapes: list[tuple[int, int, int, int]]) -> None:
    stages: list[StageSpec] = [
        mock_stage(f"s{n}", workers=w, max_attempts=a, retry_delay=d).model_copy(
            update={"config": {"K": "x" * size}}
        )
        for n, (w, a, d, size) in enumerate(shapes)
    ]
    placement = place(stages)
    children = placement.children
    planned = sum(EVENTS_PER_CHILD if s.stage_id in children else stage_events(s) for s in stages)
    everything_moved = len(children) == len(stages)
    assert planned <= HISTORY_EVENTS_BUDGET or everything_moved
    assert placement.task_bytes <= WORKFLOW_TASK_BYTES_BUDGET or everything_moved
    assert child_stages(list(stages)) == children  # the same spec decides the same
