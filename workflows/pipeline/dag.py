"""Pure DAG decisions: which stages may start now, which a failure cuts off, cycles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from graphlib import CycleError, TopologicalSorter

from workflows.pipeline.models import StageStatus

Graph = Mapping[str, Iterable[str]]  # stage_id -> the stage_ids it depends on


def ready_stages(
    graph: Graph, status: Mapping[str, StageStatus], passed: AbstractSet[str] = frozenset()
) -> list[str]:
    """PENDING stages whose dependencies have all COMPLETED (or are in `passed`: skipped
    by a condition), in graph order."""
    return [
        stage
        for stage, deps in graph.items()
        if status[stage] is StageStatus.PENDING
        and all(status[dep] is StageStatus.COMPLETED or dep in passed for dep in deps)
    ]


def upstream(graph: Graph, stage: str) -> list[str]:
    """Every stage that `stage` depends on, directly or not, sorted."""
    seen: set[str] = set()
    todo = list(graph[stage])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(graph[dep])
    return sorted(seen)


def downstream(graph: Graph, stage: str) -> list[str]:
    """Every stage that depends on `stage`, directly or not, in graph order."""
    dependents: dict[str, list[str]] = {}
    for candidate, deps in graph.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(candidate)
    cut: set[str] = set()
    todo = [stage]
    while todo:
        for dependent in dependents.get(todo.pop(), ()):
            if dependent not in cut:
                cut.add(dependent)
                todo.append(dependent)
    return [s for s in graph if s in cut and s != stage]


def find_cycle(graph: Graph) -> list[str]:
    """A dependency cycle as [a, b, ..., a] (a depends on b ...), or [] when acyclic.

    The cycle starts at its stage that comes first in the graph, so the message names
    the same stage whichever way graphlib walked.
    """
    known = {stage: [dep for dep in deps if dep in graph] for stage, deps in graph.items()}
    try:
        TopologicalSorter(known).prepare()
    except CycleError as err:
        # graphlib lists each node before the nodes that depend on it: reversed, each
        # stage is followed by the one it depends on.
        ring: list[str] = list(reversed(err.args[1]))[:-1]
        order = {stage: index for index, stage in enumerate(graph)}
        first = min(range(len(ring)), key=lambda i: order[ring[i]])
        ring = ring[first:] + ring[:first]
        return [*ring, ring[0]]
    return []
