"""The local runtime: each worker is a process on this host (`command` + `args`).

Workers outlive the Ottoscaler that started them, as pods outlive a replica: each runs
under a supervisor of its own (supervisor.py), in its own session, its output and its
end written to files in `directory/<worker name>/`. A runtime adopts, on first use, every
worker found there, so after a restart `wait` returns the real outcome, `follow_output`
resumes by line, `delete` kills, and `list` and `watch` show them. `close` leaves them
running; only `delete` stops one.

The image is ignored (with one warning). A timeout or a delete kills the command's whole
process group, `sh -c` children included. Workers do not inherit Ottoscaler's
environment (it may hold secrets), only PATH, HOME, LANG and TMPDIR plus their own env
and their secrets, read from the store as the process starts (never written with the
worker's files), and OTTO_OUTPUTS, a file in the worker's directory read once it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path

from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.local.changes import DirectoryChanges
from activities.runtimes.local.launch import launch
from activities.runtimes.local.output import follow_output
from activities.runtimes.local.outputs import outputs_path, read_outputs
from activities.runtimes.local.supervisor import write_whole
from activities.runtimes.local.worker import WORKER, LocalWorker, WorkerFile, start_ticks
from activities.runtimes.protocol import PermanentRuntimeError, WorkerEvent, WorkerNotFound
from activities.runtimes.records import WorkerFeed, lost, matching, secret_env
from activities.secrets.files import FileSecretStore
from activities.secrets.store import SecretStore
from workflows.workers.outputs import OUTPUTS_ENV
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec

log = logging.getLogger(__name__)

INHERITED_ENV = ("PATH", "HOME", "LANG", "TMPDIR")
# How long a delete waits for a killed command's output to close before it kills the
# supervisor too; only a process that left the group keeps it open longer.
KILL_GRACE_SECONDS = 5.0


class LocalRuntime:
    name = "local"

    def __init__(self, directory: Path, secrets: SecretStore | None = None) -> None:
        self.directory = directory
        self.secrets = secrets or FileSecretStore()
        self._workers: dict[str, LocalWorker] = {}
        self._starting: dict[str, asyncio.Task[LocalWorker]] = {}
        self._feed = WorkerFeed(self._workers)
        self._changes = DirectoryChanges()
        self._adopted = False
        self._warned_image = False

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        self._adopt()
        starting = self._starting.get(spec.name)
        if starting is None:
            known = self._workers.get(spec.name)
            if known is not None and known.ended.is_set() and known.started_at is None:
                await self._discard(known)  # its start was cut short: start it now
                known = None
            if known is not None:
                return known.info()
            starting = asyncio.create_task(self._start(spec))
            self._starting[spec.name] = starting
            starting.add_done_callback(lambda _: self._starting.pop(spec.name, None))
        # Shielded: a cancelled caller must not leave a supervisor half started.
        return (await asyncio.shield(starting)).info()

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        self._adopt()
        worker = self._workers.get(spec.name)
        if worker is None:
            return lost(spec.name)
        await worker.ended.wait()
        assert worker.outcome is not None
        return worker.outcome

    async def read_outputs(self, spec: WorkerSpec) -> str:
        return read_outputs(self.directory / spec.name)

    async def delete(self, name: str) -> None:
        self._adopt()
        starting = self._starting.get(name)
        if starting is not None:  # a delete that races a create comes second
            await asyncio.wait({starting})
        worker = self._workers.get(name)
        if worker is not None:
            self._feed.removed(worker)
            await self._discard(worker)

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        self._adopt()
        return matching(self._workers, labels)

    def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        self._adopt()
        return self._feed.watch(labels)

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncGenerator[Sequence[OutputLine], None]:
        self._adopt()
        worker = self._workers.get(spec.name)
        if worker is None:
            raise WorkerNotFound(f"no local worker {spec.name!r} in {self.directory}")
        return follow_output(worker.directory, after.sequence, worker.ended, self._changes)

    async def close(self) -> None:
        """Stops watching; the workers go on, for the next runtime on this directory."""
        loop = asyncio.get_running_loop()
        for worker in self._workers.values():
            if worker.supervisor is not None:
                loop.remove_reader(worker.supervisor)
                os.close(worker.supervisor)
                worker.supervisor = None
        self._workers.clear()
        self._changes.close()

    def _adopt(self) -> None:
        """Adopts the workers a previous runtime left in the directory, once."""
        if self._adopted:
            return
        self._adopted = True
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for entry in sorted(self.directory.iterdir()):
            worker = LocalWorker.adopt(entry)
            if worker is None:  # its start was cut short before the command could run
                shutil.rmtree(entry, ignore_errors=True)
                continue
            self._know(worker)
            self._watch_end(worker)
            log.info("local runtime: adopted worker %s", worker.spec.name)

    async def _start(self, spec: WorkerSpec) -> LocalWorker:
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
        directory = self.directory / spec.name
        env[OUTPUTS_ENV] = str(outputs_path(directory).absolute())
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(mode=0o700)
        worker = LocalWorker(spec, on_change=self._feed.changed, directory=directory)

        def record(pid: int) -> None:
            started = start_ticks(pid)
            assert started is not None  # it waits for GO: alive
            recorded = WorkerFile(
                spec=spec,
                created_at=worker.created_at,
                supervisor_pid=pid,
                supervisor_start=started,
            )
            write_whole(directory / WORKER, recorded.model_dump_json())
            worker.supervisor = os.pidfd_open(pid)
            self._know(worker)

        try:
            await launch(directory, argv, env, spec.timeout_seconds, record)
        except BaseException:
            if self._workers.get(spec.name) is worker:
                self._watch_end(worker)
                await self._discard(worker)
            else:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        worker.read_started()
        self._feed.changed(worker)
        # Watched from now on: its end is reported after its start, however quick it was.
        self._watch_end(worker)
        return worker

    def _know(self, worker: LocalWorker) -> None:
        worker.on_change = self._feed.changed
        self._workers[worker.spec.name] = worker

    def _watch_end(self, worker: LocalWorker) -> None:
        """Records the worker's end once its supervisor exits (at once if it has)."""
        pidfd = worker.supervisor
        if pidfd is None:
            worker.conclude()
            return

        def exited() -> None:
            asyncio.get_running_loop().remove_reader(pidfd)
            os.close(pidfd)
            worker.supervisor = None
            worker.conclude()

        asyncio.get_running_loop().add_reader(pidfd, exited)

    async def _discard(self, worker: LocalWorker) -> None:
        """Forgets the worker: kills what runs, then removes its files."""
        if self._workers.get(worker.spec.name) is worker:
            del self._workers[worker.spec.name]
        worker.deleted = True
        # The supervisor ends once the output's last holder, so the whole group, is gone.
        if worker.kill_command():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.ended.wait(), KILL_GRACE_SECONDS)
        worker.kill_supervisor()  # a process that left the group may hold the output
        await worker.ended.wait()
        shutil.rmtree(worker.directory, ignore_errors=True)
