"""The DAG's pure decisions, checked against brute force on random graphs."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from workflows.pipeline.dag import downstream, find_cycle, ready_stages, upstream
from workflows.pipeline.models import StageStatus

NAMES = [f"s{i}" for i in range(8)]


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(1, len(NAMES)))
    nodes = NAMES[:size]
    return {node: draw(st.lists(st.sampled_from(nodes), unique=True)) for node in nodes}


def reachable(graph: dict[str, list[str]], start: str) -> set[str]:
    """Every node start depends on, directly or not (brute force)."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return seen


@given(graphs())
def test_a_cycle_is_found_exactly_when_one_exists(graph: dict[str, list[str]]) -> None:
    cycle = find_cycle(graph)
    has_cycle = any(node in reachable(graph, node) for node in graph)
    assert bool(cycle) == has_cycle
    if cycle:
        assert cycle[0] == cycle[-1]
        for node, dependency in pairwise(cycle):
            assert dependency in graph[node]  # each stage depends on the next


def test_the_cycle_starts_at_its_first_stage_in_request_order() -> None:
    assert find_cycle({"d": [], "a": ["c"], "b": ["a"], "c": ["b"]}) == ["a", "c", "b", "a"]
    assert find_cycle({"x": ["x"]}) == ["x", "x"]


def test_a_dependency_outside_the_graph_is_no_cycle() -> None:
    assert find_cycle({"a": ["missing"]}) == []


def test_a_thousand_stage_ring_is_found_without_recursion() -> None:
    ring = {f"s{i}": [f"s{i - 1}"] for i in range(1, 1000)} | {"s0": ["s999"]}
    assert len(find_cycle(ring)) == 1001


@given(graphs(), st.data())
def test_downstream_is_every_stage_that_depends_on_it(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    stage = data.draw(st.sampled_from(list(graph)))
    expected = [node for node in graph if node != stage and stage in reachable(graph, node)]
    assert downstream(graph, stage) == expected


def test_ready_stages_wait_for_every_dependency_to_complete() -> None:
    graph = {"build": [], "lint": [], "test": ["build", "lint"], "deploy": ["test"]}
    status = dict.fromkeys(graph, StageStatus.PENDING)
    assert ready_stages(graph, status) == ["build", "lint"]
    status |= {"build": StageStatus.COMPLETED, "lint": StageStatus.RUNNING}
    assert ready_stages(graph, status) == []
    status["lint"] = StageStatus.COMPLETED
    assert ready_stages(graph, status) == ["test"]
    status["test"] = StageStatus.FAILED
    assert ready_stages(graph, status) == []


@given(graphs())
def test_upstream_is_every_stage_a_stage_depends_on(graph: dict[str, list[str]]) -> None:
    for node in graph:
        assert upstream(graph, node) == sorted(reachable(graph, node))
