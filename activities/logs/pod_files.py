"""The files of one pod in the archive: its lines, and otto-handler's progress on them.

`<pod>.jsonl` holds one JSON object per line, sequence first so that a reader can skip
lines without parsing them. One writer at a time holds an exclusive flock on it (a
second Ottoscaler process tailing the same pod gets ArchiveBusy instead of interleaving),
and a reopened writer repairs a torn last line and skips every line it already holds:
the archive has each sequence once, whatever the crash. Writes reach the OS at once
(flush) so a killed process loses nothing it wrote.

`<pod>.fwd` is the sequence up to which otto-handler has settled every line (acknowledged
or dropped it): a fixed-width number rewritten in place by one pwrite when it moves.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from activities.logs.lines import LogLine
from activities.logs.store import ArchiveBusy

_SEQ_PREFIX = b'{"seq":'
_TAIL_STEP = 256 * 1024
READ_LIMIT_BYTES = 1024 * 1024


# How the marker line of a log cut at its size limit begins.
TRUNCATED = "[log truncated: "


def encode(line: LogLine) -> str:
    level = f',"lvl":{json.dumps(line.level)}' if line.level else ""
    return (
        f'{{"seq":{line.sequence},"ts":"{line.timestamp.isoformat()}",'
        f'"src":{json.dumps(line.source)}{level},'
        f'"msg":{json.dumps(line.message, ensure_ascii=False)}}}\n'
    )


def sequence_of(raw: bytes) -> int:
    return int(raw[len(_SEQ_PREFIX) : raw.index(b",", len(_SEQ_PREFIX))])


def decode(raw: bytes) -> LogLine:
    data = json.loads(raw)
    return LogLine(
        timestamp=datetime.fromisoformat(data["ts"]),
        source=data["src"],
        message=data["msg"],
        level=data.get("lvl", ""),
        sequence=data["seq"],
    )


def _lock(file: BinaryIO, path: Path) -> None:
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as err:
        file.close()
        raise ArchiveBusy(f"{path.name} is being written by another tail") from err


def _line_start(file: BinaryIO, end: int) -> int:
    """The position just after the last newline before `end` (0 when there is none)."""
    while end > 0:
        start = max(0, end - _TAIL_STEP)
        file.seek(start)
        newline = file.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _repair(file: BinaryIO) -> bytes:
    """Cuts a torn last line off and returns the last whole line (b"" when there is none)."""
    size = file.seek(0, os.SEEK_END)
    whole = _line_start(file, size)
    if whole < size:
        file.truncate(whole)
    if whole == 0:
        return b""
    start = _line_start(file, whole - 1)
    file.seek(start)
    return file.read(whole - start)


class FilePodWriter:
    """Appends a pod's lines to its archive file, each sequence at most once. Writes to
    a local file return at once, so they run on the loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "a+b")  # noqa: SIM115 - held until close()
        _lock(self._file, path)
        last = _repair(self._file)
        self.last_sequence = sequence_of(last) if last else 0
        # The log was cut at its size limit (sinks.py) by an earlier writer.
        self.truncated = decode(last).message.startswith(TRUNCATED) if last else False
        self.size = self._file.seek(0, os.SEEK_END)

    async def append(self, lines: Sequence[LogLine]) -> Sequence[LogLine]:
        """Writes the lines it does not hold yet and returns them."""
        if lines and lines[0].sequence <= self.last_sequence:
            lines = [line for line in lines if line.sequence > self.last_sequence]
        if not lines:
            return lines
        data = "".join(map(encode, lines)).encode()
        self._file.write(data)
        self._file.flush()
        self.size += len(data)
        self.last_sequence = lines[-1].sequence
        return lines

    async def close(self, *, sync: bool = False) -> None:
        if self._file.closed:
            return
        if sync:
            os.fsync(self._file.fileno())
        self._file.close()  # releases the lock


class FilePodReader:
    """Reads a pod's archive file incrementally: each call returns what was added since."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    async def read(self, after: int, limit: int = READ_LIMIT_BYTES) -> list[LogLine]:
        """The next whole lines with a sequence above `after` (about `limit` bytes of file
        at most); empty once the reader is at the end of what was written."""
        try:
            # A local file answers at once: read on the loop, as the archive always was.
            file = open(self.path, "rb")  # noqa: ASYNC230, SIM115 - closed below
        except FileNotFoundError:
            return []
        with file:
            file.seek(self._offset)
            while data := file.read(limit):
                end = data.rfind(b"\n") + 1  # a line being written is read next time, whole
                if end == 0:
                    return []
                self._offset += end
                file.seek(self._offset)
                lines = [decode(raw) for raw in data[:end].splitlines() if sequence_of(raw) > after]
                if lines:
                    return lines
        return []


class FileForwardMark:
    """How far otto-handler has acknowledged a pod's lines; one forwarder holds it.
    Finished, it is renamed to `done`."""

    WIDTH = 20

    def __init__(self, file: BinaryIO, path: Path, done: Path) -> None:
        self._file = file
        self.path = path
        self.done = done
        raw = file.read().strip()
        self.position = int(raw) if raw else 0

    @classmethod
    def acquire(cls, path: Path, done: Path) -> FileForwardMark | None:
        """The mark, locked for this forwarder; None when it is gone or held by another."""
        try:
            file = open(path, "r+b")  # noqa: SIM115 - held until close()
        except FileNotFoundError:
            return None
        try:
            _lock(file, path)
        except ArchiveBusy:
            return None
        return cls(file, path, done)

    @classmethod
    def create(cls, path: Path) -> None:
        with open(path, "xb") as file:
            file.write(b"%0*d\n" % (cls.WIDTH, 0))

    async def commit(self, sequence: int) -> None:
        if sequence > self.position:
            os.pwrite(self._file.fileno(), b"%0*d\n" % (self.WIDTH, sequence), 0)
            self.position = sequence

    async def finish(self) -> None:
        """Every line is acknowledged and the pod's output is complete: park the mark."""
        os.replace(self.path, self.done)
        await self.close()

    async def close(self) -> None:
        self._file.close()
