"""A local worker's output, read back from its supervisor's records as lines.

The records are read in order and split per stream with lines.LineSplitter, each line
stamped with the time its last bytes were read: every reader, in this process or the
next, makes the very same lines of them. So a follower resumes after cursor.sequence by
counting lines from the start, and each line is delivered once whoever follows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from activities.logs.lines import MAX_BATCH, STDERR, STDOUT, LineSplitter, OutputLine
from activities.runtimes.local.changes import DirectoryChanges
from activities.runtimes.local.supervisor import OUTPUT, RECORD, STDERR_STREAM, STDOUT_STREAM

# Bytes read at once: a worker that printed a lot is read in pieces, never all at once.
READ_BYTES = 1024 * 1024
_SOURCES = {STDOUT_STREAM: STDOUT, STDERR_STREAM: STDERR}


class OutputReader:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._unread = b""  # the start of a record still being written
        self._splitters = {stream: LineSplitter() for stream in _SOURCES}
        self.at_end = False  # the last read reached what is written so far

    def read(self) -> list[OutputLine]:
        """The lines of the records written since the last read."""
        if self._file is None:
            try:
                self._file = self._path.open("rb")
            except FileNotFoundError:  # not started (yet)
                self.at_end = True
                return []
        fresh = self._file.read(READ_BYTES)
        self.at_end = len(fresh) < READ_BYTES
        data = self._unread + fresh
        lines: list[OutputLine] = []
        offset = 0
        while offset + RECORD.size <= len(data):
            stamp, stream, length = RECORD.unpack_from(data, offset)
            end = offset + RECORD.size + length
            if end > len(data):
                break
            splitter = self._splitters[stream]
            chunk = data[offset + RECORD.size : end]
            messages = splitter.feed(chunk) if chunk else splitter.end()
            at = datetime.fromtimestamp(stamp / 1e9, UTC)
            lines.extend(OutputLine(at, _SOURCES[stream], message) for message in messages)
            offset = end
        self._unread = data[offset:]
        return lines

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


async def follow_output(
    directory: Path, after: int, ended: asyncio.Event, changes: DirectoryChanges
) -> AsyncGenerator[Sequence[OutputLine], None]:
    """The lines after the first `after`, in batches, until the worker has ended and all
    it printed was yielded."""
    reader = OutputReader(directory / OUTPUT)
    skip = after
    try:
        with changes.watching(directory) as wakeup:
            while True:
                wakeup.changed.clear()
                finished = ended.is_set()  # looked at first: then the file is complete
                lines = reader.read()
                dropped = min(skip, len(lines))
                skip -= dropped
                for start in range(dropped, len(lines), MAX_BATCH):
                    yield lines[start : start + MAX_BATCH]
                if reader.at_end:
                    if finished:
                        return
                    await wakeup.wait(ended)
    finally:
        reader.close()
