"""The archive: every pod's log as files under one directory, so logs outlive their pods.

    <root>/<task>/<pod>.jsonl       the lines (pod_files.PodWriter / PodReader)
    <root>/<task>/<pod>.meta.json  PodMeta: labels, created, complete
    <root>/<task>/<pod>.fwd        otto-handler's progress, while forwarding is pending
    <root>/<task>/<pod>.fwd.done   the same, once every line is settled

Pods are grouped by task (a pipeline's workers carry the pipeline id as task id), so the
logs of one pipeline are one directory listing. The archive is the durable source of
truth: a gateway in another process, or after a restart, reads everything from here.
Put the root on a shared volume when gateway and worker run on different machines.
`prune` deletes whole tasks once they are finished, forwarded and old (LOG_RETENTION_DAYS).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from activities.logs.pod_files import FileForwardMark, FilePodReader, FilePodWriter
from activities.logs.pods import LogSelector, PodMeta
from workflows.workers.naming import short_hash

META = ".meta.json"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def path_component(value: str) -> str:
    """value as a file name: kept when safe, else sanitised and made unique by a hash."""
    if _SAFE.match(value):
        return value
    return f"{_UNSAFE.sub('-', value)[:80].strip('.-')}-{short_hash(value)}".lstrip("-")


@dataclass(frozen=True)
class PodPaths:
    lines: Path
    meta: Path
    forward: Path
    forwarded: Path


class Archive:
    """The file archive (a LogArchive). File operations on a local disk return at once,
    so they run on the loop, as the archive always did; pruning runs in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Parsed metas by path, with the mtime they were read at: discovery re-reads only changes.
        self._metas: dict[Path, tuple[int, PodMeta]] = {}

    def paths(self, meta: PodMeta) -> PodPaths:
        base = self.root / path_component(meta.task_id or "_") / path_component(meta.pod)
        return PodPaths(
            lines=base.with_name(base.name + ".jsonl"),
            meta=base.with_name(base.name + META),
            forward=base.with_name(base.name + ".fwd"),
            forwarded=base.with_name(base.name + ".fwd.done"),
        )

    async def open_writer(self, meta: PodMeta, *, forward: bool) -> tuple[FilePodWriter, PodMeta]:
        paths = self.paths(meta)
        paths.lines.parent.mkdir(parents=True, exist_ok=True)
        writer = FilePodWriter(paths.lines)
        known = self.load(paths.meta)
        stored = meta.model_copy(
            update={
                "created_at": known.created_at if known else meta.created_at,
                "complete": False,
                "lines": writer.last_sequence,
            }
        )
        await self.save(stored)
        if forward:
            if paths.forwarded.exists():
                os.replace(paths.forwarded, paths.forward)  # new lines for a finished pod
            elif not paths.forward.exists():
                FileForwardMark.create(paths.forward)
        return writer, stored

    async def save(self, meta: PodMeta) -> None:
        path = self.paths(meta).meta
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(meta.model_dump_json())
        os.replace(temporary, path)  # readers see the old meta or the new, never half

    def load(self, path: Path) -> PodMeta | None:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            self._metas.pop(path, None)  # pruned: forget it, so the cache stays bounded
            return None
        cached = self._metas.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        try:
            meta = PodMeta.model_validate_json(path.read_bytes())
        except (FileNotFoundError, ValueError):
            return None  # replaced or being written meanwhile: the next look sees it
        self._metas[path] = (mtime, meta)
        return meta

    async def current(self, meta: PodMeta) -> PodMeta | None:
        return self.load(self.paths(meta).meta)

    async def find(self, selector: LogSelector) -> list[PodMeta]:
        if selector.task_hint:
            folders = [self.root / path_component(selector.task_hint)]
        else:
            folders = [Path(entry.path) for entry in _scan(self.root) if entry.is_dir()]
        found = [
            meta
            for folder in folders
            for entry in _scan(folder)
            if entry.name.endswith(META)
            and (meta := self.load(Path(entry.path))) is not None
            and selector.matches(meta)
        ]
        return sorted(found, key=lambda meta: (meta.created_at, meta.pod))

    def reader(self, meta: PodMeta) -> FilePodReader:
        return FilePodReader(self.paths(meta).lines)

    async def pending_forwards(self) -> list[PodMeta]:
        pending = []
        for folder in _scan(self.root):
            for entry in _scan(Path(folder.path)) if folder.is_dir() else ():
                if entry.name.endswith(".fwd"):
                    meta_path = Path(entry.path[: -len(".fwd")] + META)
                    meta = self.load(meta_path)
                    if meta is not None:
                        pending.append(meta)
        return pending

    async def acquire_forward(self, meta: PodMeta) -> FileForwardMark | None:
        paths = self.paths(meta)
        return FileForwardMark.acquire(paths.forward, paths.forwarded)

    async def prune(self, before: float) -> list[str]:
        # An archive of its own in a thread: the serving one's cache is never touched
        # from two threads.
        return await asyncio.to_thread(Archive(self.root).prune_folders, before)

    def prune_folders(self, before: float) -> list[str]:
        """Deletes every task folder whose pods are all complete and forwarded and whose
        files were last written before `before` (seconds since the epoch); returns them.

        Pruning a task whole keeps a pipeline's logs all there or all gone. A folder with
        an incomplete pod, lines otto-handler has not acknowledged, or nothing we can
        read as a pod is left alone."""
        pruned = []
        for folder in _scan(self.root):
            if folder.is_dir() and self._expired(_scan(Path(folder.path)), before):
                shutil.rmtree(folder.path, ignore_errors=True)
                pruned.append(folder.name)
        return pruned

    def _expired(self, entries: list[os.DirEntry[str]], before: float) -> bool:
        metas = [entry for entry in entries if entry.name.endswith(META)]
        if not metas or any(entry.name.endswith(".fwd") for entry in entries):
            return False
        try:
            if any(entry.stat().st_mtime >= before for entry in entries):
                return False
        except FileNotFoundError:
            return False  # a file replaced just now: the task is being written
        loaded = [self.load(Path(entry.path)) for entry in metas]
        return all(meta is not None and meta.complete for meta in loaded)


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []
