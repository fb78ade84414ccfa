"""A cancelled pipeline ends only after every worker it created is gone."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import CancelledError

from activities.runtimes.mock.runtime import MockRuntime
from tests.builders import mock_stage, pipeline, start, worker
from tests.waiting import eventually
from workflows.base.checks import Limits


async def test_a_cancel_while_workers_are_being_created_leaves_none_behind(
    client: Client, task_queue: str
) -> None:
    """50 shards: the cancel lands while some are created and others not yet; the stage
    waits for every shard to delete its worker, not only for the first one."""
    spec = pipeline(mock_stage("wide", workers=50, duration=60))
    runtime = MockRuntime()
    labels = {"pipeline-id": spec.pipeline_id}
    async with worker(client, task_queue, runtime):
        handle = await start(client, task_queue, spec, Limits(max_workers_per_stage=50))

        async def some_created() -> bool:
            return bool(await runtime.list(labels))

        await eventually(some_created)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), 60)
        assert isinstance(failed.value.cause, CancelledError)

        async def none_left() -> bool:
            return await runtime.list(labels) == []

        # A worker whose create raced the workflow's delete is deleted by its own
        # activity once the cancel reaches it; none is left for the reaper.
        assert await eventually(none_left)
