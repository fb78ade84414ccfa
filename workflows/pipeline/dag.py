"""Pure DAG decisions: which stages may start now, which a failure cuts off, cycles."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from workflows.pipeline.models import StageStatus

Graph = Mapping[str, Iterable[str]]  # stage_id -> the stage_ids it depends on


def ready_stages(graph: Graph, status: Mapping[str, StageStatus]) -> list[str]:
    """PENDING stages whose dependencies have all COMPLETED, in graph order."""
    return [
        stage
        for stage, deps in graph.items()
        if status[stage] is StageStatus.PENDING
        and all(status[dep] is StageStatus.COMPLETED for dep in deps)
    ]


def downstream(graph: Graph, stage: str) -> list[str]:
    """Every stage that depends on `stage`, directly or not, in graph order."""
    cut = {stage}
    changed = True
    while changed:
        changed = False
        for candidate, deps in graph.items():
            if candidate not in cut and any(dep in cut for dep in deps):
                cut.add(candidate)
                changed = True
    return [s for s in graph if s in cut and s != stage]


def find_cycle(graph: Graph) -> list[str]:
    """A dependency cycle as [a, b, ..., a] (a depends on b ...), or [] when acyclic.

    Iterative depth-first search, so a 1,000-stage chain does not hit the recursion limit.
    """
    done: set[str] = set()
    for root in graph:
        if root in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        path.append(root)
        on_path.add(root)
        while stack:
            node, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif dep in on_path:
                return [*path[path.index(dep) :], dep]
            elif dep not in done and dep in graph:
                stack.append((dep, iter(graph[dep])))
                path.append(dep)
                on_path.add(dep)
    return []
