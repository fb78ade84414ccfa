"""Readers replay the archive, then follow live; a slow or vanished one blocks nobody."""

from __future__ import annotations

import asyncio
from pathlib import Path

from activities.logs import Archive, LiveHub, LogSelector, LogSinks, PodMeta, follow_logs
from tests.logs.test_archive import lines
from tests.waiting import eventually

SELECTOR = LogSelector(pipeline_id="p1")


async def read(sinks: LogSinks, into: list[int], gate: asyncio.Event | None = None) -> None:
    async for batch in follow_logs(sinks, SELECTOR, 0, follow=True, poll_seconds=0.05):
        into.extend(line.sequence for line in batch.lines)
        if gate is not None:
            await gate.wait()  # a client that stopped reading


async def test_a_slow_reader_never_holds_up_the_writer_or_a_fast_reader(tmp_path: Path) -> None:
    sinks = LogSinks(Archive(tmp_path), LiveHub(backlog=100))
    pod = await sinks.open(PodMeta(pod="p1-build-0", task_id="p1", pipeline_id="p1"))
    await pod.write(lines(1, 50))
    fast: list[int] = []
    slow: list[int] = []
    gone: list[int] = []
    gate = asyncio.Event()
    readers = [asyncio.create_task(read(sinks, got, g)) for got, g in ((fast, None), (slow, gate))]
    vanishing = asyncio.create_task(read(sinks, gone))

    async def replayed() -> bool:
        return len(fast) >= 50 and len(slow) >= 50 and len(gone) >= 50

    await eventually(replayed)
    vanishing.cancel()
    for first in range(51, 2051, 50):
        await pod.write(lines(first, first + 49))  # never waits on a reader
        await asyncio.sleep(0)  # a tail yields between batches
    await pod.complete()
    await asyncio.wait_for(readers[0], 10)
    assert fast == list(range(1, 2051))
    assert len(slow) < 2050 and sinks.hub.subscribers == 1  # the slow one, cut loose
    gate.set()
    await asyncio.wait_for(readers[1], 10)
    assert slow == list(range(1, 2051))  # caught up from the archive
    assert sinks.hub.subscribers == 0


async def test_without_follow_it_ends_at_the_current_end(tmp_path: Path) -> None:
    sinks = LogSinks(Archive(tmp_path), LiveHub())
    pod = await sinks.open(PodMeta(pod="p1-build-0", task_id="p1", pipeline_id="p1"))
    await pod.write(lines(1, 30))
    got = [
        line.sequence
        async for batch in follow_logs(sinks, SELECTOR, 25, follow=False)
        for line in batch.lines
    ]
    assert got == [25, 26, 27, 28, 29, 30]
    await pod.close()
