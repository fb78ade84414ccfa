"""The mock runtime: no process, each worker's behaviour scripted by `mock.*` config keys.

mock.duration (seconds), mock.exit_code, mock.fail_attempts (the first N attempts of every
shard exit 1), mock.reason (reported instead of Error), mock.lines, mock.line_rate.
For tests, benchmarks and otto-handler's own integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from activities.runtime import PermanentRuntimeError
from activities.runtimes.records import WorkerRecord, lost, matching, utcnow
from workflows.workers import WorkerInfo, WorkerOutcome, WorkerSpec

DEADLINE_EXCEEDED = "DeadlineExceeded"


class MockScript:
    """The scripted behaviour of one worker, parsed from its config."""

    def __init__(self, spec: WorkerSpec) -> None:
        config = spec.config
        try:
            self.duration = float(config.get("mock.duration", "0"))
            exit_code = int(config.get("mock.exit_code", "0"))
            fail_attempts = int(config.get("mock.fail_attempts", "0"))
            self.lines = int(config.get("mock.lines", "0"))
            self.line_rate = float(config.get("mock.line_rate", "0"))
        except ValueError as err:
            raise PermanentRuntimeError(f"config: invalid mock.* value: {err}") from err
        self.reason = config.get("mock.reason", "")
        failing_attempt = spec.attempt <= fail_attempts
        self.exit_code = 1 if failing_attempt else exit_code
        # mock.reason names how a failing worker fails; it never fails a succeeding one.
        if self.exit_code == 0:
            self.reason = ""


class MockRuntime:
    name = "mock"

    def __init__(self) -> None:
        self._workers: dict[str, WorkerRecord] = {}

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        MockScript(spec)  # reject a bad script before anything exists
        record = self._workers.get(spec.name)
        if record is None:
            record = WorkerRecord(spec)
            record.started_at = record.created_at
            self._workers[spec.name] = record
        return record.info()

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        record = self._workers.get(spec.name)
        if record is None:
            return lost(spec.name)
        if record.outcome is not None:
            return record.outcome
        script = MockScript(spec)
        elapsed = (utcnow() - record.created_at).total_seconds()
        deadline = spec.timeout_seconds or None
        if deadline is not None and script.duration > deadline:
            await asyncio.sleep(max(0.0, deadline - elapsed))
            return record.finish(None, DEADLINE_EXCEEDED, f"ran past {deadline}s")
        await asyncio.sleep(max(0.0, script.duration - elapsed))
        if spec.name not in self._workers:  # deleted while it ran
            return lost(spec.name)
        return record.finish(script.exit_code, script.reason)

    async def delete(self, name: str) -> None:
        self._workers.pop(name, None)

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        return matching(self._workers, labels)

    async def close(self) -> None:
        self._workers.clear()
