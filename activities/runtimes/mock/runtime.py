"""The mock runtime: no process, each worker's behaviour scripted by `mock.*` config keys.

mock.duration (seconds), mock.exit_code, mock.fail_attempts (the first N attempts of every
shard exit 1), mock.reason (reported instead of Error), mock.lines, mock.line_rate,
mock.pending (seconds pending before it runs), mock.outputs (the `key=value` lines every
shard writes to OTTO_OUTPUTS, `${NAME}` replaced by the worker's environment variable NAME,
e.g. `${OTTO_MATRIX_OS}`). For tests, benchmarks and otto-handler's
own integration tests. A worker is a record and at most one timer: 1,000 cost little.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from string import Template

from activities.logs.lines import LogCursor, OutputLine, utcnow
from activities.runtimes.mock.output import MockOutput
from activities.runtimes.protocol import PermanentRuntimeError, WorkerEvent, WorkerNotFound
from activities.runtimes.records import WorkerFeed, WorkerRecord, lost, matching, secret_env
from activities.secrets.files import FileSecretStore
from activities.secrets.store import SecretStore
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec

DEADLINE_EXCEEDED = "DeadlineExceeded"
# What every shard of the stage writes to OTTO_OUTPUTS: `key=value` lines.
OUTPUTS_KEY = "mock.outputs"


# Every mock.* number and its range: scripts for tests, not a way to hang a worker.
_WEEK = 7 * 24 * 3600.0
_RANGES: dict[str, tuple[type[int] | type[float], float]] = {
    "mock.duration": (float, _WEEK),
    "mock.pending": (float, _WEEK),
    "mock.line_rate": (float, 1_000_000.0),
    "mock.lines": (int, 1_000_000),
    "mock.exit_code": (int, 255),
    "mock.fail_attempts": (int, 1_000),
}


def mock_number(config: Mapping[str, str], key: str) -> float:
    """A mock.* number (0 when absent); ValueError names the key and its range."""
    kind, high = _RANGES[key]
    raw = config.get(key, "0")
    try:
        value = kind(raw)
    except ValueError:
        value = -1  # reported below, with the range
    if not 0 <= value <= high:  # also false for NaN
        raise ValueError(f"{key} {raw[:20]!r} is not {kind.__name__} 0..{int(high)}")
    return value


def check_mock_config(config: Mapping[str, str]) -> None:
    for key in _RANGES:
        mock_number(config, key)


class MockScript:
    """The scripted behaviour of one worker, parsed from its config."""

    def __init__(self, spec: WorkerSpec) -> None:
        config = spec.config
        try:
            self.duration = mock_number(config, "mock.duration")
            exit_code = int(mock_number(config, "mock.exit_code"))
            fail_attempts = int(mock_number(config, "mock.fail_attempts"))
            self.lines = int(mock_number(config, "mock.lines"))
            self.line_rate = mock_number(config, "mock.line_rate")
            self.pending = mock_number(config, "mock.pending")
        except ValueError as err:
            raise PermanentRuntimeError(f"config: {err}") from err
        if self.line_rate > 0:  # a worker runs at least as long as it prints
            self.duration = max(self.duration, self.lines / self.line_rate)
        self.reason = config.get("mock.reason", "")
        failing_attempt = spec.attempt <= fail_attempts
        self.exit_code = 1 if failing_attempt else exit_code
        # mock.reason names how a failing worker fails; it never fails a succeeding one.
        if self.exit_code == 0:
            self.reason = ""


@dataclass
class MockWorker(WorkerRecord):
    # Moves a mock.pending worker to running; cancelled when it is deleted first.
    starter: asyncio.TimerHandle | None = None
    # Set by delete: a wait on the worker ends then, as one on a deleted pod does.
    gone: asyncio.Event = field(default_factory=asyncio.Event)


async def _lives_for(record: MockWorker, seconds: float) -> bool:
    """Waits out `seconds` of the worker's life; False when it is deleted meanwhile."""
    try:
        await asyncio.wait_for(record.gone.wait(), max(0.0, seconds))
    except TimeoutError:
        return True
    return False


class MockRuntime:
    name = "mock"

    def __init__(self, secrets: SecretStore | None = None) -> None:
        self.secrets = secrets or FileSecretStore()
        self._workers: dict[str, MockWorker] = {}
        self._feed = WorkerFeed(self._workers)
        # Workers pending or running now, and the most there ever were at once: what
        # MAX_WORKERS bounds, as the runtime itself saw it.
        self._live: set[str] = set()
        self.peak_live = 0

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        script = MockScript(spec)  # reject a bad script before anything exists
        record = self._workers.get(spec.name)
        if record is None:
            await secret_env(self.secrets, spec)  # as a pod, it fails when they are gone
            record = MockWorker(spec, on_change=self._changed)
            if script.pending > 0:
                loop = asyncio.get_running_loop()
                record.starter = loop.call_later(script.pending, record.start)
            else:
                record.started_at = record.created_at
            self._workers[spec.name] = record
            self._live.add(spec.name)
            self.peak_live = max(self.peak_live, len(self._live))
            self._feed.changed(record)
        return record.info()

    def _changed(self, record: WorkerRecord) -> None:
        if record.outcome is not None:
            self._live.discard(record.spec.name)
        self._feed.changed(record)

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
            if not await _lives_for(record, script.pending + deadline - elapsed):
                return lost(spec.name)
            return record.finish(None, DEADLINE_EXCEEDED, f"ran past {deadline}s")
        if not await _lives_for(record, script.pending + script.duration - elapsed):
            return lost(spec.name)
        return record.finish(script.exit_code, script.reason)

    async def read_outputs(self, spec: WorkerSpec) -> str:
        # ${NAME} reads the worker's environment, so matrix shards can write their own keys.
        return Template(spec.config.get(OUTPUTS_KEY, "")).safe_substitute(spec.env)

    async def delete(self, name: str) -> None:
        record = self._workers.pop(name, None)
        self._live.discard(name)
        if record is not None:
            if record.starter is not None:
                record.starter.cancel()
            record.gone.set()
            self._feed.removed(record)

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        return matching(self._workers, labels)

    def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        return self._feed.watch(labels)

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        record = self._workers.get(spec.name)
        if record is None:
            raise WorkerNotFound(f"no mock worker {spec.name!r}")
        script = MockScript(spec)
        started = record.created_at + timedelta(seconds=script.pending)
        output = MockOutput(script.lines, script.line_rate, started, spec.timeout_seconds)
        return output.follow(after.sequence, lambda: self._workers.get(spec.name) is record)

    async def close(self) -> None:
        for record in self._workers.values():
            if record.starter is not None:
                record.starter.cancel()
        self._workers.clear()
