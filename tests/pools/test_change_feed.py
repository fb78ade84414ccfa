"""The runtimes' change feed (WorkerRuntime.watch): a snapshot, then every change, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from activities.runtimes.local import LocalRuntime
from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import WorkerEvent, WorkerEventKind
from tests.runtimes import delete_all
from workflows.workers.spec import WorkerSpec


def spec(name: str, task_id: str = "t1", **fields: object) -> WorkerSpec:
    return WorkerSpec.model_validate({"name": name, "labels": {"task-id": task_id}, **fields})


async def changes(feed: AsyncIterator[WorkerEvent], count: int) -> list[tuple[str, str, str]]:
    """The next count events as (kind, worker, phase)."""
    events = [await asyncio.wait_for(anext(feed), 5) for _ in range(count)]
    return [(e.kind.value, w.name, w.phase.value) for e in events for w in e.workers]


async def test_mock_feed_reports_pending_running_finished_and_deleted() -> None:
    runtime = MockRuntime()
    await runtime.create(spec("w0", config={"mock.duration": "60"}))
    feed = runtime.watch({"task-id": "t1"})
    assert await changes(feed, 1) == [("snapshot", "w0", "running")]
    await runtime.create(spec("elsewhere", task_id="t2"))  # not this feed's business
    late = spec("w1", config={"mock.pending": "0.2", "mock.duration": "0.1"})
    await runtime.create(late)
    await runtime.wait(late)
    await runtime.delete("w1")
    assert await changes(feed, 4) == [
        ("upsert", "w1", "pending"),
        ("upsert", "w1", "running"),
        ("upsert", "w1", "succeeded"),
        ("delete", "w1", "succeeded"),
    ]
    await runtime.close()


async def test_local_feed_never_revives_a_deleted_worker(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path)
    try:
        feed = runtime.watch({"task-id": "t1"})
        first = await asyncio.wait_for(anext(feed), 5)
        assert (first.kind, first.workers) == (WorkerEventKind.SNAPSHOT, ())
        await runtime.create(spec("w1", command=("sleep", "60")))
        await runtime.delete("w1")  # its exit afterwards must not bring it back
        quick = spec("w2", command=("true",))
        await runtime.create(quick)
        await runtime.wait(quick)
        assert await changes(feed, 4) == [
            ("upsert", "w1", "running"),
            ("delete", "w1", "running"),
            ("upsert", "w2", "running"),
            ("upsert", "w2", "succeeded"),
        ]
    finally:
        await delete_all(runtime)
        await runtime.close()
