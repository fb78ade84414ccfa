"""The local runtime runs real processes and captures their output line by line."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from activities.runtimes.local import LocalRuntime
from activities.runtimes.protocol import PermanentRuntimeError
from tests.e2e.processes import alive
from workflows.workers.spec import WorkerPhase, WorkerSpec


def sh(name: str, script: str, **fields: object) -> WorkerSpec:
    return WorkerSpec.model_validate(
        {"name": name, "command": ("sh", "-c", script), "labels": {"task-id": "t1"}, **fields}
    )


@pytest.fixture
async def runtime() -> AsyncIterator[LocalRuntime]:
    local = LocalRuntime()
    try:
        yield local
    finally:
        await local.close()


async def test_output_is_captured_line_by_line_with_sources(runtime: LocalRuntime) -> None:
    spec = sh("w1", 'echo one; echo two >&2; printf "three"', env={"GREETING": "hi"})
    await runtime.create(spec)
    outcome = await runtime.wait(spec)
    assert outcome.succeeded and outcome.exit_code == 0
    log = runtime.worker_log("w1")
    assert log is not None
    assert sorted((line.source, line.message) for line in log.lines) == [
        ("stderr", "two"),
        ("stdout", "one"),
        ("stdout", "three"),  # the last line, without a newline, is not lost
    ]
    assert [line.sequence for line in log.lines] == [1, 2, 3]


async def test_worker_gets_its_env_and_not_ours(
    runtime: LocalRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTTOSCALER_AUTH_TOKEN", "secret")
    spec = sh(
        "w2",
        'echo "$OTTO_STAGE_ID:${OTTOSCALER_AUTH_TOKEN:-unset}"',
        env={"OTTO_STAGE_ID": "build"},
    )
    await runtime.create(spec)
    await runtime.wait(spec)
    log = runtime.worker_log("w2")
    assert log is not None and [line.message for line in log.lines] == ["build:unset"]


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
    log = runtime.worker_log("w4")
    assert log is not None
    grandchild = int(log.lines[0].message)
    assert not alive(grandchild), "the sh -c child must die with its group"


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


async def test_a_stage_without_command_is_refused(runtime: LocalRuntime) -> None:
    with pytest.raises(PermanentRuntimeError, match="command"):
        await runtime.create(WorkerSpec(name="w6"))
    missing = sh("w7", "true").model_copy(update={"command": ("/no/such/binary",)})
    with pytest.raises(PermanentRuntimeError, match="cannot start"):
        await runtime.create(missing)
