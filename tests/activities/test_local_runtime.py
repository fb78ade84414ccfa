"""The local runtime runs real processes, captures their output line by line, and leaves
them running for the next runtime on its directory, which adopts them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.logs.lines import CONTINUED, LogCursor, OutputLine
from activities.runtimes.local import LocalRuntime
from activities.runtimes.protocol import PermanentRuntimeError
from tests.e2e.processes import alive
from tests.runtimes import delete_all
from tests.waiting import eventually
from workflows.workers.spec import WorkerPhase, WorkerSpec

# Waits for the test to create $GATE: the worker is still running whenever the test needs.
UNTIL_THE_GATE = 'while [ ! -e "$GATE" ]; do sleep 0.05; done'


def sh(name: str, script: str, **fields: object) -> WorkerSpec:
    return WorkerSpec.model_validate(
        {"name": name, "command": ("sh", "-c", script), "labels": {"task-id": "t1"}, **fields}
    )


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "workers"


@pytest.fixture
async def runtime(directory: Path) -> AsyncIterator[LocalRuntime]:
    local = LocalRuntime(directory)
    try:
        yield local
    finally:
        await delete_all(local)  # closing leaves workers running: that is the point
        await local.close()


async def output(runtime: LocalRuntime, spec: WorkerSpec, after: int = 0) -> list[OutputLine]:
    """Every line after the first `after`, once the worker has ended."""
    cursor = LogCursor(sequence=after)
    return [line async for batch in runtime.follow_output(spec, cursor) for line in batch]


async def test_output_is_captured_line_by_line_with_sources(runtime: LocalRuntime) -> None:
    spec = sh("w1", 'echo one; echo two >&2; printf "three"', env={"GREETING": "hi"})
    await runtime.create(spec)
    outcome = await runtime.wait(spec)
    assert outcome.succeeded and outcome.exit_code == 0
    lines = await output(runtime, spec)
    assert sorted((line.source, line.message) for line in lines) == [
        ("stderr", "two"),
        ("stdout", "one"),
        ("stdout", "three"),  # the last line, without a newline, is not lost
    ]
    assert await output(runtime, spec, after=2) == lines[2:]


async def test_worker_gets_its_env_and_not_ours(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTTOSCALER_AUTH_TOKEN", "secret")
    monkeypatch.setenv("PYTHONPATH", "/nowhere")
    spec = sh(
        "w2",
        'echo "$OTTO_STAGE_ID:${OTTOSCALER_AUTH_TOKEN:-unset}:${PYTHONPATH:-unset}"',
        env={"OTTO_STAGE_ID": "build"},
    )
    await runtime.create(spec)
    await runtime.wait(spec)
    assert [line.message for line in await output(runtime, spec)] == ["build:unset:unset"]


async def test_python_variables_of_a_worker_reach_it_not_its_supervisor(
    runtime: LocalRuntime,
) -> None:
    """The supervisor is Python too: a PYTHONHOME meant for the worker must not break it."""
    spec = sh("py", 'echo "$PYTHONHOME"', env={"PYTHONHOME": "/nowhere"})
    await runtime.create(spec)
    assert (await runtime.wait(spec)).succeeded
    assert [line.message for line in await output(runtime, spec)] == ["/nowhere"]


async def test_non_zero_exit_is_an_error_with_its_code(runtime: LocalRuntime) -> None:
    spec = sh("w3", "exit 7")
    await runtime.create(spec)
    outcome = await runtime.wait(spec)
    assert not outcome.succeeded
    assert (outcome.reason, outcome.exit_code) == ("Error", 7)
    assert outcome.failure_text == "Error (exit 7)"


async def test_timeout_kills_the_whole_process_group(runtime: LocalRuntime) -> None:
    spec = sh("w4", "sleep 60 & echo $!; wait", timeout_seconds=1)
    await runtime.create(spec)
    outcome = await runtime.wait(spec)
    assert outcome.reason == "DeadlineExceeded"
    grandchild = int((await output(runtime, spec))[0].message)
    assert not alive(grandchild), "the sh -c child must die with its group"


async def test_a_megabyte_without_newline_does_not_break_capture(runtime: LocalRuntime) -> None:
    spec = sh("w9", "head -c 1048576 /dev/zero; echo; echo after")
    await runtime.create(spec)
    await runtime.wait(spec)
    lines = await output(runtime, spec)
    assert lines[-1].message == "after"
    assert all(line.message.endswith(CONTINUED) for line in lines[:-2])
    assert "".join(line.message.removesuffix(CONTINUED) for line in lines[:-1]) == "\0" * 2**20


async def test_create_is_idempotent_and_delete_kills(runtime: LocalRuntime) -> None:
    spec = sh("w5", "sleep 60")
    first = await runtime.create(spec)
    again = await runtime.create(spec)
    assert first.name == again.name == "w5"
    listed = await runtime.list({"task-id": "t1"})
    assert [(w.name, w.phase) for w in listed] == [("w5", WorkerPhase.RUNNING)]
    await runtime.delete("w5")
    await runtime.delete("w5")  # already gone is success
    assert await runtime.list({"task-id": "t1"}) == []
    outcome = await runtime.wait(spec)
    assert outcome.reason == "WorkerLost"


async def test_a_delete_racing_a_create_comes_second(runtime: LocalRuntime) -> None:
    """A cancelled stage deletes its workers at once, maybe while one is being created."""
    await asyncio.gather(runtime.create(sh("raced", "sleep 60")), runtime.delete("raced"))
    assert await runtime.list({}) == []


async def test_a_stage_without_command_is_refused(runtime: LocalRuntime) -> None:
    with pytest.raises(PermanentRuntimeError, match="command"):
        await runtime.create(WorkerSpec(name="w6"))
    missing = sh("w7", "true").model_copy(update={"command": ("/no/such/binary",)})
    with pytest.raises(PermanentRuntimeError, match="cannot start '/no/such/binary'"):
        await runtime.create(missing)
    assert await runtime.list({}) == []


async def test_a_new_runtime_adopts_a_running_worker(directory: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    script = f"echo one; echo two >&2; {UNTIL_THE_GATE}; echo three; exit 3"
    spec = sh("adopted", script, env={"GATE": str(gate)})
    first = LocalRuntime(directory)
    await first.create(spec)
    followed = first.follow_output(spec, LogCursor())
    cursor = LogCursor()
    while cursor.sequence < 2:
        cursor = cursor.advance(await anext(followed))
    await followed.aclose()
    await first.close()  # as when Ottoscaler stops: the worker goes on

    second = LocalRuntime(directory)
    try:
        listed = await second.list({"task-id": "t1"})
        assert [(w.name, w.phase) for w in listed] == [("adopted", WorkerPhase.RUNNING)]
        gate.touch()
        outcome = await second.wait(spec)
        assert (outcome.reason, outcome.exit_code) == ("Error", 3)
        assert [line.message for line in await output(second, spec, cursor.sequence)] == ["three"]
        everything = await output(second, spec)
        assert sorted(line.message for line in everything) == ["one", "three", "two"]
    finally:
        await delete_all(second)
        await second.close()


async def test_a_worker_that_ended_while_no_runtime_ran_is_found_ended(
    directory: Path, tmp_path: Path
) -> None:
    done = tmp_path / "done"
    spec = sh("quick", 'echo only; touch "$DONE"; exit 4', env={"DONE": str(done)})
    first = LocalRuntime(directory)
    await first.create(spec)
    await first.close()

    async def finished() -> bool:
        return done.exists()

    await eventually(finished)
    second = LocalRuntime(directory)
    try:
        outcome = await second.wait(spec)
        assert (outcome.reason, outcome.exit_code) == ("Error", 4)
        assert [line.message for line in await output(second, spec)] == ["only"]
    finally:
        await delete_all(second)
        await second.close()


async def test_delete_after_adoption_kills_the_group_and_removes_its_files(
    directory: Path,
) -> None:
    spec = sh("doomed", "sleep 60 & echo $!; wait")
    first = LocalRuntime(directory)
    await first.create(spec)
    followed = first.follow_output(spec, LogCursor())
    grandchild = int((await anext(followed))[0].message)
    await followed.aclose()
    await first.close()
    assert alive(grandchild), "closing a runtime must leave its workers running"

    second = LocalRuntime(directory)
    try:
        await second.delete("doomed")
        assert not alive(grandchild)
        assert await second.list({}) == []
        assert os.listdir(directory) == []  # its files are gone
    finally:
        await second.close()
    third = LocalRuntime(directory)
    assert await third.list({}) == []
    await third.close()
