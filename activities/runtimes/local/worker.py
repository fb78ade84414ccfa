"""One local worker as the runtime knows it: a directory of files, and its supervisor.

The runtime writes WORKER (the spec and who supervises it) before the command may start;
the supervisor writes the rest (supervisor.py). So a runtime that starts later reads back
every worker whole, adopts it, and learns how it ended even if that was while no
Ottoscaler ran. A supervisor is watched through a pidfd, which becomes readable when it
exits, whoever its parent is; its pid is checked against the start time recorded beside
it, so a pid reused by another process is never taken for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from activities.runtimes.local.supervisor import STARTED, STATUS
from activities.runtimes.records import WORKER_LOST, WorkerRecord
from workflows.workers.spec import WorkerSpec

WORKER = "worker.json"
DEADLINE_EXCEEDED = "DeadlineExceeded"
KILLED = "Killed"


class _File(BaseModel):
    model_config = ConfigDict(frozen=True)


class WorkerFile(_File):
    spec: WorkerSpec
    created_at: datetime
    supervisor_pid: int
    # When the supervisor started, in clock ticks since boot: with the pid, it names one
    # process for good, since pids are reused.
    supervisor_start: int


class Started(_File):
    command_pid: int
    started_at: int  # ns since the epoch


class Status(_File):
    exit_code: int  # negative: killed by that signal
    deadline_exceeded: bool
    finished_at: int


def start_ticks(pid: int) -> int | None:
    """When the process started (/proc/<pid>/stat field 22); None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; the fields after its closing parenthesis are fixed.
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def open_process(pid: int, started: int) -> int | None:
    """A pidfd of that very process; None when it has ended."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    if start_ticks(pid) != started:  # opened first, so this is the process the fd holds
        os.close(fd)
        return None
    return fd


def _read(model: type[_File], path: Path) -> _File | None:
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):  # not written (yet), or not a worker's directory
        return None


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


@dataclass
class LocalWorker(WorkerRecord):
    directory: Path = Path()
    supervisor: int | None = None  # its pidfd, while it runs
    command_group: int = 0
    deleted: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def adopt(cls, directory: Path) -> LocalWorker | None:
        """The worker recorded in directory; None if it was never handed to a supervisor."""
        recorded = _read(WorkerFile, directory / WORKER)
        if not isinstance(recorded, WorkerFile):
            return None
        worker = cls(recorded.spec, created_at=recorded.created_at, directory=directory)
        worker.supervisor = open_process(recorded.supervisor_pid, recorded.supervisor_start)
        worker.read_started()
        return worker

    def read_started(self) -> None:
        started = _read(Started, self.directory / STARTED)
        if isinstance(started, Started):
            self.command_group = started.command_pid
            self.started_at = _time(started.started_at)

    def kill_command(self) -> bool:
        """Kills the command's process group while its supervisor runs; False when there
        is none (not started, or ended) to kill."""
        if self.supervisor is None or not self.command_group:
            return False
        # While its supervisor runs, the group is the command's: the supervisor reaps the
        # command only once the output's last holder is gone, then it exits.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.command_group, signal.SIGKILL)
        return True

    def kill_supervisor(self) -> None:
        if self.supervisor is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.supervisor, signal.SIGKILL)

    def conclude(self) -> None:
        """Records how it ended, from its supervisor's STATUS, once the supervisor is gone."""
        self.read_started()
        status = _read(Status, self.directory / STATUS)
        if isinstance(status, Status):
            at = _time(status.finished_at)
            code = status.exit_code
            if status.deadline_exceeded:
                timeout = self.spec.timeout_seconds
                self.finish(None, DEADLINE_EXCEEDED, f"ran past {timeout}s", at=at)
            elif code < 0:
                self.finish(code, KILLED, f"killed by signal {-code}", at=at)
            else:
                self.finish(code, at=at)
        elif self.deleted:
            self.finish(None, KILLED, "deleted while it ran")
        elif self.started_at is None:
            self.finish(None, WORKER_LOST, "it never started: Ottoscaler stopped while starting it")
        else:
            self.finish(None, WORKER_LOST, "its supervisor ended without recording how it ended")
        self.ended.set()
