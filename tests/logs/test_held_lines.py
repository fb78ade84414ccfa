"""The tail holds lines that come soon after its last write, a few milliseconds, to
archive them together; none of them is lost for it. Here the hold is stretched to an
hour: the first lines go at once, the others only at the end of the output, or on the
activity's cancel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from activities.logs import Archive, LiveHub, LogSelector, LogSinks
from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.mock.runtime import MockRuntime
from activities.workers import tail
from gateway.worker import create_worker
from tests.builders import pipeline, run_pipeline, start
from tests.logs.pipelines import printed
from tests.signing import admission
from tests.waiting import eventually
from workflows.pipeline.models import StageSpec, StageStatus
from workflows.workers.spec import WorkerSpec


class LingeringOutput(MockRuntime):
    """The mock runtime, counting the lines it hands the tail; its output stream stays
    open once the worker is gone (as a log stream may), so only a cancel ends the tail."""

    def __init__(self) -> None:
        super().__init__()
        self.handed = 0

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        return self._lingering(super().follow_output(spec, after))

    async def _lingering(
        self, output: AsyncIterator[Sequence[OutputLine]]
    ) -> AsyncIterator[Sequence[OutputLine]]:
        async for batch in output:
            self.handed += len(batch)
            yield batch
        await asyncio.Event().wait()


@pytest.fixture(autouse=True)
def hold_for_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tail, "GATHER_SECONDS", 3600.0)


async def archived(archive: Archive, pipeline_id: str) -> list[tuple[int, str]]:
    (meta,) = await archive.find(LogSelector(pipeline_id=pipeline_id))
    return [(line.sequence, line.message) for line in await archive.reader(meta).read(0)]


async def test_lines_held_at_the_end_of_the_output_are_archived(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub())
    config = {"mock.lines": "30", "mock.line_rate": "300"}
    spec = pipeline(StageSpec(stage_id="build", config=config))
    async with create_worker(client, task_queue, MockRuntime(), admission(), logs=sinks):
        snapshot, _ = await run_pipeline(client, task_queue, spec)
    assert snapshot.status is StageStatus.COMPLETED
    assert await archived(archive, spec.pipeline_id) == printed(30)


async def test_lines_held_when_the_worker_is_cancelled_are_archived_before_the_log_completes(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub())
    runtime = LingeringOutput()
    config = {"mock.lines": "600", "mock.line_rate": "20"}
    spec = pipeline(StageSpec(stage_id="build", config=config))
    async with create_worker(client, task_queue, runtime, admission(), logs=sinks):
        handle = await start(client, task_queue, spec)

        async def printing() -> bool:
            return runtime.handed >= 10

        await eventually(printing, within=60)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 60)

        async def completed() -> bool:
            found = await archive.find(LogSelector(pipeline_id=spec.pipeline_id))
            return bool(found) and found[0].complete

        await eventually(completed, within=60)
    (meta,) = await archive.find(LogSelector(pipeline_id=spec.pipeline_id))
    assert await archived(archive, spec.pipeline_id) == printed(runtime.handed)
    assert meta.lines == runtime.handed
