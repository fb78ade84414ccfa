"""Runtimes for tests: real implementations of WorkerRuntime with scripted infrastructure faults."""

from __future__ import annotations

from pathlib import Path

from activities.runtimes.local import LocalRuntime
from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import TransientRuntimeError
from workflows.workers.spec import WorkerInfo, WorkerSpec


class FlakyApiRuntime(MockRuntime):
    """The mock runtime behind an API that answers 503 to the first `failures` creates."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures_left = failures
        self.create_calls = 0

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        self.create_calls += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise TransientRuntimeError("503 Service Unavailable from the runtime API")
        return await super().create(spec)


async def delete_all(runtime: LocalRuntime) -> None:
    for worker in await runtime.list({}):
        await runtime.delete(worker.name)


async def delete_local_workers(directory: Path) -> None:
    """Kills what a test left running in a local runtime's directory: workers outlive the
    runtime that started them, and only a delete stops them."""
    runtime = LocalRuntime(directory)
    try:
        await delete_all(runtime)
    finally:
        await runtime.close()
