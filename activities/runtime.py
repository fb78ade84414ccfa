"""The one small interface every worker backend implements (kubernetes, local, mock).

Activities only talk to a WorkerRuntime; a backend turns its own client's errors into
the RuntimeFailure classes below, so no kubernetes or OS exception leaks upwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from workflows.workers import WorkerInfo, WorkerOutcome, WorkerSpec


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


class WorkerRuntime(Protocol):
    """Creates, watches and removes workers. Every method is safe to call again."""

    name: str

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        """Starts the worker; a worker of the same name and run is adopted, not duplicated."""
        ...

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        """Returns when the worker has ended; enforces the spec's timeout and pending deadline."""
        ...

    async def delete(self, name: str) -> None:
        """Stops and removes the worker; a worker that is already gone is success."""
        ...

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        """Workers whose labels include every given label."""
        ...

    async def close(self) -> None:
        """Releases clients and stops every background task of the runtime."""
        ...
