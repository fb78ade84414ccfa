"""The one small interface every worker backend implements (kubernetes, local, mock).

Activities only talk to a WorkerRuntime; a backend turns its own client's errors into
the RuntimeFailure classes below, so no kubernetes or OS exception leaks upwards.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from activities.logs.lines import LogCursor, OutputLine
from activities.secrets.store import SecretStore
from workflows.workers.spec import WorkerInfo, WorkerOutcome, WorkerSpec


class RuntimeFailure(Exception):
    """A runtime operation failed. Subclasses say whether trying again can help."""

    retryable = True


class TransientRuntimeError(RuntimeFailure):
    """The backend is unreachable, overloaded or answered 5xx/429: retry with backoff."""


class PermanentRuntimeError(RuntimeFailure):
    """The backend refused for good (forbidden, invalid object): retrying cannot help."""

    retryable = False


class WorkerNotFound(PermanentRuntimeError):
    """No worker of that name exists (any more) in this runtime."""


class WorkerEventKind(StrEnum):
    SNAPSHOT = "snapshot"
    UPSERT = "upsert"
    DELETE = "delete"


@dataclass(frozen=True)
class WorkerEvent:
    """One entry of a runtime's change feed (WorkerRuntime.watch).

    SNAPSHOT carries every matching worker and replaces all the consumer knew; UPSERT one
    worker as it is now (new or changed); DELETE one worker that is gone.
    """

    kind: WorkerEventKind
    workers: tuple[WorkerInfo, ...]


class WorkerRuntime(Protocol):
    """Creates, watches and removes workers. Every method is safe to call again."""

    name: str

    @property
    def secrets(self) -> SecretStore:
        """Where this runtime's workers take their secret values from."""
        ...

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        """Starts the worker; a worker of the same name and run is adopted, not duplicated."""
        ...

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        """Returns when the worker has ended; enforces the spec's timeout and pending deadline."""
        ...

    async def read_outputs(self, spec: WorkerSpec) -> str:
        """What the ended worker wrote to the file named by OTTO_OUTPUTS ("" for nothing);
        asked before it is deleted. Reads little more than MAX_WORKER_OUTPUTS_BYTES."""
        ...

    async def delete(self, name: str) -> None:
        """Stops and removes the worker; a worker that is already gone is success."""
        ...

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        """Workers whose labels include every given label."""
        ...

    def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent, None]:
        """The change feed of the workers whose labels include every given label.

        Starts with a SNAPSHOT, then one event per change, until the consumer closes it
        (aclose, e.g. with contextlib.aclosing). After a gap (a watch expired, the backend
        reconnected) it sends a new SNAPSHOT rather than guess what it missed.
        """
        ...

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        """The worker's output after `after`, in order and in batches, until it is complete.

        Complete means the worker has exited and every line it printed was yielded, or the
        worker was deleted. Resume after after.sequence when the backend can reopen its
        output by position; by time (after.timestamp) otherwise, dropping what was already
        delivered with lines.SeenFilter. Raises WorkerNotFound for an unknown worker.
        """
        ...

    async def close(self) -> None:
        """Releases clients and stops every background task of the runtime. It deletes no
        worker: kubernetes' and local ones go on, for the next runtime to adopt."""
        ...
