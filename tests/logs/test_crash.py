"""A crash mid-tail: the retried tail resumes from its heartbeat, and exactly the printed
lines reach the archive and otto-handler, once each, in order.

The crash stops the Temporal worker and the forwarder of the "old process" while the
worker prints, then starts new ones on the same archive, as a restarted Ottoscaler
would. The mock worker itself lives on, as a pod does when Ottoscaler dies.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.logs import Archive, LiveHub, LogSelector, LogSinks
from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.mock.runtime import MockRuntime
from gateway.logs.forwarder import LogForwarder
from gateway.worker import create_worker
from tests.builders import pipeline, start
from tests.logs.otto_handler import FakeOttoHandler, serving
from tests.signing import admission
from tests.waiting import eventually
from workflows.pipeline.models import StageSpec, StageStatus
from workflows.workers.spec import WorkerSpec

LINES = 300


class RecordingMock(MockRuntime):
    """The mock runtime, noting where each tail asked the output to resume."""

    def __init__(self) -> None:
        super().__init__()
        self.resumed_after: list[int] = []

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        self.resumed_after.append(after.sequence)
        return super().follow_output(spec, after)


@asynccontextmanager
async def ottoscaler_process(
    client: Client, task_queue: str, runtime: MockRuntime, log_dir: Path, otto_handler: str
) -> AsyncIterator[Archive]:
    """The worker side of one Ottoscaler process: its own sinks, worker and forwarder."""
    archive = Archive(log_dir)
    sinks = LogSinks(archive, LiveHub(), forward=True)
    forwarder = LogForwarder(otto_handler, archive, sinks.hub, "default")
    async with (
        create_worker(client, task_queue, runtime, admission(), logs=sinks),
        forwarder.running(),
    ):
        yield archive


# The stopped worker evicts the running stage; StageWorkflow._run_shard's `finally` then
# tries to schedule delete_worker outside the workflow loop, which Python only reports.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_lines_survive_a_crash_mid_tail_exactly_once(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    handler = FakeOttoHandler()
    runtime = RecordingMock()
    config = {"mock.lines": str(LINES), "mock.line_rate": "150"}
    spec = pipeline(StageSpec(stage_id="build", config=config))
    selector = LogSelector(pipeline_id=spec.pipeline_id)
    async with serving(handler) as address:
        async with ottoscaler_process(client, task_queue, runtime, tmp_path, address) as archive:
            handle = await start(client, task_queue, spec)

            async def mid_tail() -> bool:
                found = await archive.find(selector)
                return bool(found) and len(await archive.reader(found[0]).read(after=0)) >= 60

            await eventually(mid_tail)  # then the first process stops: the crash
        gc.collect()  # the first process's evicted stage goes now, not in another test
        # The first process is gone; a new one takes over the same archive.
        async with ottoscaler_process(client, task_queue, runtime, tmp_path, address) as archive:
            result = (await asyncio.wait_for(handle.result(), 30)).snapshot
            (meta,) = await archive.find(selector)

            async def forwarded() -> bool:
                return await asyncio.to_thread(archive.paths(meta).forwarded.exists)

            await eventually(forwarded)
    assert result.status is StageStatus.COMPLETED
    first, resumed = runtime.resumed_after
    assert first == 0 and resumed >= 60  # the retry started after the last heartbeat
    expected = [(n, f"line {n}") for n in range(1, LINES + 1)]
    archived = await archive.reader(meta).read(0)
    assert [(line.sequence, line.message) for line in archived] == expected
    assert handler.accepted[meta.pod] == list(range(1, LINES + 1))
