"""The secret store of the local and mock runtimes: this process's memory, and files.

Each entry is also one JSON file of mode 0600 in a directory of mode 0700 under the data
dir, so a restarted Ottoscaler (or the reaper) still finds what a run stored; without a
directory the store is memory only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from activities.secrets.store import SecretsNotFound, StoredSecrets

_SUFFIX = ".json"


class FileSecretStore:
    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._values: dict[str, dict[str, str]] = {}
        self._entries: dict[str, StoredSecrets] = {}

    async def put(self, name: str, labels: Mapping[str, str], values: Mapping[str, str]) -> None:
        entry = StoredSecrets(name=name, labels=dict(labels), created_at=datetime.now(UTC))
        self._values[name] = dict(values)
        self._entries[name] = entry
        path = self._path(name)
        if path is None:
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created 0600 from the start: the values are never readable by anyone else.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"entry": entry.model_dump(mode="json"), "values": values}, file)

    async def read(self, name: str) -> dict[str, str]:
        if name in self._values:
            return dict(self._values[name])
        values: dict[str, str] = self._load(name)["values"]
        return values

    async def delete(self, name: str) -> None:
        self._values.pop(name, None)
        self._entries.pop(name, None)
        path = self._path(name)
        if path is not None:
            path.unlink(missing_ok=True)

    async def list(self) -> list[StoredSecrets]:
        entries = dict(self._entries)
        if self._directory is not None and self._directory.is_dir():
            for path in self._directory.glob(f"*{_SUFFIX}"):
                name = path.name.removesuffix(_SUFFIX)
                if name not in entries:
                    try:
                        entries[name] = StoredSecrets.model_validate(self._load(name)["entry"])
                    except SecretsNotFound:
                        continue  # deleted meanwhile
        return sorted(entries.values(), key=lambda entry: entry.name)

    def _path(self, name: str) -> Path | None:
        if "/" in name or name.startswith("."):
            raise ValueError(f"secret store name {name!r} is not a file name")
        return None if self._directory is None else self._directory / f"{name}{_SUFFIX}"

    def _load(self, name: str) -> dict[str, dict[str, str]]:
        path = self._path(name)
        try:
            if path is None:
                raise FileNotFoundError(name)
            loaded: dict[str, dict[str, str]] = json.loads(path.read_text())
        except FileNotFoundError as err:
            raise SecretsNotFound(f"no secrets {name!r}: the run that stored them ended") from err
        return loaded
