"""The mock runtime follows its mock.* script."""

from __future__ import annotations

import pytest

from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import PermanentRuntimeError
from workflows.workers.spec import WorkerSpec


def scripted(attempt: int = 1, timeout: int = 0, **mock: str) -> WorkerSpec:
    return WorkerSpec(
        name=f"m-{attempt}",
        config={f"mock.{k}": v for k, v in mock.items()},
        attempt=attempt,
        timeout_seconds=timeout,
    )


@pytest.mark.parametrize(
    ("spec", "succeeded", "reason", "exit_code"),
    [
        (scripted(), True, "", 0),
        (scripted(exit_code="4"), False, "Error", 4),
        (scripted(exit_code="137", reason="OOMKilled"), False, "OOMKilled", 137),
        (scripted(attempt=1, fail_attempts="2"), False, "Error", 1),
        (scripted(attempt=2, fail_attempts="2"), False, "Error", 1),
        (scripted(attempt=3, fail_attempts="2"), True, "", 0),
        (scripted(reason="Evicted"), True, "", 0),  # a reason alone fails nothing
        (scripted(timeout=1, duration="5"), False, "DeadlineExceeded", None),
    ],
)
async def test_script_decides_the_outcome(
    spec: WorkerSpec, succeeded: bool, reason: str, exit_code: int | None
) -> None:
    runtime = MockRuntime()
    await runtime.create(spec)
    outcome = await runtime.wait(spec)
    assert (outcome.succeeded, outcome.reason, outcome.exit_code) == (succeeded, reason, exit_code)


async def test_bad_script_is_refused_before_anything_exists() -> None:
    runtime = MockRuntime()
    with pytest.raises(
        PermanentRuntimeError, match=r"mock\.duration .soon. is not float 0\.\.604800"
    ):
        await runtime.create(scripted(duration="soon"))
    assert await runtime.list({}) == []
