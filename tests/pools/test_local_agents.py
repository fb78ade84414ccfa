"""On the local runtime a pool worker is a process running OTTO_AGENT_COMMAND with its env."""

from __future__ import annotations

import pytest

from activities.logs.lines import LogCursor
from activities.runtimes.local import LocalRuntime
from gateway.app import Running
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.pools.calls import Stub, new_task, scale_up, status
from tests.waiting import eventually
from workflows.workers.spec import WorkerSpec


@pytest.fixture
def agent_command() -> str:
    return ""  # the documented default


@pytest.fixture
def settings(settings: Settings, agent_command: str) -> Settings:
    return settings.model_copy(
        update={"ottoscaler_runtime": RuntimeKind.LOCAL, "otto_agent_command": agent_command}
    )


async def output_when_done(stub: Stub, ottoscaler: Running, task: str) -> dict[str, list[str]]:
    async def finished() -> bool:
        seen = await status(stub, task)
        return seen.total_count > 0 and seen.succeeded_count == seen.total_count

    await eventually(finished)
    runtime = ottoscaler.runtime
    assert isinstance(runtime, LocalRuntime)
    lines: dict[str, list[str]] = {}
    for worker in (await status(stub, task)).workers:
        output = runtime.follow_output(WorkerSpec(name=worker.pod_name), LogCursor())
        printed = [line.message async for batch in output for line in batch]
        lines[worker.labels["ottoscaler.io/pool-index"]] = printed
    return lines


async def test_the_default_agent_runs_and_exits(stub: Stub, ottoscaler: Running) -> None:
    task = new_task()
    answer = await scale_up(stub, task, 2, OTTO_AGENT_SECONDS="0")
    assert answer.status == pb.ScaleResponse.SUCCESS, answer.message
    assert await output_when_done(stub, ottoscaler, task) == {
        "0": [f"otto agent {task}/0"],
        "1": [f"otto agent {task}/1"],
    }


@pytest.mark.parametrize(
    "agent_command", ["sh -c 'echo $GREETING $OTTO_REPOSITORY@$OTTO_COMMIT_SHA $OTTO_WORKER_COUNT'"]
)
async def test_otto_agent_command_gets_build_config_and_identity(
    stub: Stub, ottoscaler: Running
) -> None:
    task = new_task()
    await scale_up(stub, task, 1, GREETING="hello")
    assert await output_when_done(stub, ottoscaler, task) == {"0": ["hello otto/demo@abc123 1"]}
