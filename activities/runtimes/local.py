"""The local runtime: each worker is a process on this host (`command` + `args`).

Output is captured line by line into the worker's log. The image is ignored (with one
warning). Processes start in their own session so that a timeout or a delete kills the
whole process group, `sh -c` children included. Workers do not inherit Ottoscaler's
environment (it may hold secrets), only PATH, HOME, LANG and TMPDIR plus their own env
and their secrets, read from the store as the process starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from activities.logs.lines import LogCursor, OutputLine, WorkerLog, utcnow
from activities.runtimes.protocol import PermanentRuntimeError, WorkerEvent, WorkerNotFound
from activities.runtimes.records import WorkerFeed, WorkerRecord, lost, matching, secret_env
from activities.secrets.files import FileSecretStore
from activities.secrets.store import SecretStore
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec

log = logging.getLogger(__name__)

DEADLINE_EXCEEDED = "DeadlineExceeded"
INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR")


@dataclass
class LocalWorker(WorkerRecord):
    process: asyncio.subprocess.Process | None = None
    log: WorkerLog = field(default_factory=WorkerLog)
    pumps: list[asyncio.Task[None]] = field(default_factory=list)


class LocalRuntime:
    name = "local"

    def __init__(self, secrets: SecretStore | None = None) -> None:
        self.secrets = secrets or FileSecretStore()
        self._workers: dict[str, LocalWorker] = {}
        self._feed = WorkerFeed(self._workers)
        self._warned_image = False

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        if spec.name in self._workers:
            return self._workers[spec.name].info()
        argv = [*spec.command, *spec.args]
        if not argv:
            raise PermanentRuntimeError(
                "command: the local runtime runs the stage's command + args; none was given"
            )
        if spec.image and not self._warned_image:
            log.warning("local runtime: images are ignored, commands run on this host")
            self._warned_image = True
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update(spec.env)
        env.update(await secret_env(self.secrets, spec))
        worker = LocalWorker(spec, on_change=self._feed.changed)
        try:
            worker.process = await asyncio.create_subprocess_exec(
                *argv,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as err:
            raise PermanentRuntimeError(f"command: cannot start {argv[0]!r}: {err}") from err
        worker.started_at = utcnow()
        for source, stream in (
            ("stdout", worker.process.stdout),
            ("stderr", worker.process.stderr),
        ):
            assert stream is not None
            worker.pumps.append(asyncio.create_task(worker.log.pump(stream, source)))
        self._workers[spec.name] = worker
        self._feed.changed(worker)
        return worker.info()

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        worker = self._workers.get(spec.name)
        if worker is None or worker.process is None:
            return lost(spec.name)
        if worker.outcome is not None:
            return worker.outcome
        process = worker.process
        timeout = spec.timeout_seconds or None
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            await asyncio.gather(*worker.pumps)
            return worker.finish(None, DEADLINE_EXCEEDED, f"ran past {spec.timeout_seconds}s")
        # The pumps end at EOF: waiting for them keeps the last lines before exit.
        await asyncio.gather(*worker.pumps)
        worker.log.close()
        code = process.returncode
        if code is not None and code < 0:
            return worker.finish(code, "Killed", f"killed by signal {-code}")
        return worker.finish(code)

    async def delete(self, name: str) -> None:
        worker = self._workers.pop(name, None)
        if worker is None or worker.process is None:
            return
        self._feed.removed(worker)
        if worker.process.returncode is None:
            _kill_group(worker.process)
            await worker.process.wait()
        for pump in worker.pumps:
            pump.cancel()
        worker.log.close()

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        return matching(self._workers, labels)

    def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        return self._feed.watch(labels)

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        worker = self._workers.get(spec.name)
        if worker is None:
            raise WorkerNotFound(f"no local worker {spec.name!r} (this process did not start it)")
        return worker.log.follow(after.sequence)

    def worker_log(self, name: str) -> WorkerLog | None:
        worker = self._workers.get(name)
        return worker.log if worker else None

    async def close(self) -> None:
        for name in list(self._workers):
            await self.delete(name)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(process.pid, signal.SIGKILL)
