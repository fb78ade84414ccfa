"""The SecretStore interface: one store entry per pipeline run, holding its secret values.

The gateway puts a run's values before it starts the workflow; workers take them as they
are created (a Kubernetes pod by secretKeyRef, a local process from read()); the run's
end deletes them, and the orphan reaper deletes what a crash left behind. Entries are
labelled like workers (managed-by, pipeline-id), so the reaper finds their owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from workflows.workers.spec import StoredSecrets

__all__ = ["SecretStore", "SecretsNotFound", "StoredSecrets"]


class SecretsNotFound(Exception):
    """No entry of that name (any more): its run ended, or it never was stored."""


class SecretStore(Protocol):
    async def put(self, name: str, labels: Mapping[str, str], values: Mapping[str, str]) -> None:
        """Stores a new entry; values maps each key to its secret value."""
        ...

    async def read(self, name: str) -> dict[str, str]:
        """Every key and value of an entry; SecretsNotFound if there is none."""
        ...

    async def delete(self, name: str) -> None:
        """Removes an entry; one that is already gone is success."""
        ...

    async def list(self) -> list[StoredSecrets]:
        """Every entry Ottoscaler manages here."""
        ...
