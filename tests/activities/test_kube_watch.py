"""KubernetesRuntime.watch: the change feed of pods by label, against the API emulator."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.runtimes.protocol import TransientRuntimeError, WorkerEvent, WorkerEventKind
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.waiting import eventually
from workflows.workers.spec import Labels, WorkerPhase, WorkerSpec

TASK = {Labels.TASK_ID: "task-1"}
SNAPSHOT, UPSERT, DELETE = WorkerEventKind.SNAPSHOT, WorkerEventKind.UPSERT, WorkerEventKind.DELETE


def worker(name: str, task: str = "task-1", duration: float = 60) -> WorkerSpec:
    return WorkerSpec(
        name=name, labels={Labels.TASK_ID: task}, env={"FAKE_DURATION": str(duration)}
    )


def replay(events: list[WorkerEvent]) -> dict[str, WorkerPhase]:
    """What a consumer of the feed knows: each worker's phase."""
    known: dict[str, WorkerPhase] = {}
    for event in events:
        if event.kind is SNAPSHOT:
            known = {}
        for info in event.workers:
            if event.kind is DELETE:
                known.pop(info.name, None)
            else:
                known[info.name] = info.phase
    return known


def kinds(events: list[WorkerEvent]) -> list[WorkerEventKind]:
    return [event.kind for event in events]


def feed_requests(emulator: KubeEmulator, *, watching: bool) -> list[dict[str, str]]:
    return [
        r.query
        for r in emulator.requests
        if "labelSelector" in r.query and (r.query.get("watch") == "true") == watching
    ]


@contextlib.asynccontextmanager
async def feed(
    runtime: KubernetesRuntime, labels: Mapping[str, str] = TASK
) -> AsyncIterator[list[WorkerEvent]]:
    """Collects the feed's events in the background until the block ends."""
    events: list[WorkerEvent] = []

    async def collect() -> None:
        async for event in runtime.watch(labels):
            events.append(event)

    task = asyncio.create_task(collect())
    try:
        yield events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Callable[[], object]) -> None:
    async def probe() -> bool:
        return bool(check())

    await eventually(probe, within=5)


async def test_a_snapshot_first_then_one_event_per_change(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    await kube_runtime.create(worker("old"))
    await kube_runtime.create(worker("elsewhere", task="task-2"))
    await kube_cluster.emulator.until(
        lambda: kube_cluster.emulator.phase(NAMESPACE, "old") == "Running"
    )

    async with feed(kube_runtime) as events:
        await until(lambda: events)
        await kube_runtime.create(worker("new", duration=0.1))
        await until(lambda: replay(events).get("new") is WorkerPhase.SUCCEEDED)
        await kube_runtime.delete("old")
        await until(lambda: "old" not in replay(events))

    snapshot = events[0]
    assert (snapshot.kind, [w.name for w in snapshot.workers]) == (SNAPSHOT, ["old"])
    assert snapshot.workers[0].phase is WorkerPhase.RUNNING
    new = [e.workers[0] for e in events if e.workers and e.workers[0].name == "new"]
    assert new[0].phase is WorkerPhase.PENDING and new[-1].phase is WorkerPhase.SUCCEEDED
    assert all(a != b for a, b in itertools.pairwise(new))  # only real changes
    assert events[-1].kind is DELETE and events[-1].workers[0].name == "old"
    assert kinds(events).count(SNAPSHOT) == 1
    assert all(w.name != "elsewhere" for e in events for w in e.workers)
    assert replay(events) == {w.name: w.phase for w in await kube_runtime.list(TASK)}


async def test_a_dropped_watch_resumes_without_missing_a_change(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    async with feed(kube_runtime) as events:
        await until(lambda: events and emulator.open_watches == 1)

        emulator.drop_watches()
        await kube_runtime.create(worker("while-away"))
        await until(lambda: replay(events).get("while-away") is WorkerPhase.RUNNING)

    assert kinds(events).count(SNAPSHOT) == 1  # resumed: nothing to guess
    first, resumed = (int(w["resourceVersion"]) for w in feed_requests(emulator, watching=True)[:2])
    assert resumed >= first
    assert len(feed_requests(emulator, watching=False)) == 1


async def test_a_watch_too_old_to_resume_starts_over_with_a_snapshot(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    await kube_runtime.create(worker("before"))
    async with feed(kube_runtime) as events:
        await until(lambda: events and emulator.open_watches == 1)

        emulator.compact()
        await until(lambda: kinds(events).count(SNAPSHOT) == 2)
        await kube_runtime.create(worker("after"))
        await until(lambda: "after" in replay(events))

    second = events[kinds(events).index(SNAPSHOT, 1)]
    assert [w.name for w in second.workers] == ["before"]
    assert len(feed_requests(emulator, watching=False)) == 2


async def test_api_errors_while_watching_are_retried(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    kube_cluster.emulator.fail_next("GET", r"watch=true", 500, times=2)

    async with feed(kube_runtime) as events:
        await until(lambda: events)
        await kube_runtime.create(worker("w"))
        await until(lambda: "w" in replay(events))

    assert kube_cluster.emulator.pending_faults == 0
    assert kinds(events).count(SNAPSHOT) == 1


async def test_the_feed_gives_up_when_the_api_stays_down(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    kube_cluster.emulator.fail_next("GET", r"labelSelector", 503, times=100)

    async def drain() -> None:
        async for _ in kube_runtime.watch(TASK):
            pass

    with pytest.raises(TransientRuntimeError, match="503"):
        await asyncio.wait_for(drain(), timeout=5)


async def test_leaving_the_feed_closes_its_watch(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    async with feed(kube_runtime) as events:
        await until(lambda: events and emulator.open_watches == 1)

    await emulator.until(lambda: emulator.open_watches == 0)
