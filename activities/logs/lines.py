"""A worker's output as lines: what runtimes produce, how it is numbered and resumed.

Runtimes yield OutputLine batches; the log tail numbers them into LogLines (per-pod
sequence from 1, no gaps) and remembers how far it got in a LogCursor, which it
heartbeats. A runtime that can reopen its output by position (local, mock) resumes after
cursor.sequence; one that can only reopen by time (Kubernetes' pods/log sinceTime)
resumes from cursor.timestamp and drops what was already delivered with SeenFilter.

Bad output never breaks the stream: invalid UTF-8 is replaced, and a line longer than
MAX_LINE_BYTES (binary output may have no newline at all) is cut into pieces that each
end with CONTINUED, so one runaway line cannot swamp memory or a gRPC message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

MAX_LINE_BYTES = 64 * 1024
CONTINUED = " …[continued]"
READ_CHUNK_BYTES = 64 * 1024
# Lines handed out at once by a follower: big enough for throughput, small enough to interleave.
MAX_BATCH = 1024
STDOUT = "stdout"
STDERR = "stderr"


@dataclass(frozen=True, slots=True)
class OutputLine:
    timestamp: datetime
    source: str
    message: str
    level: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine(OutputLine):
    sequence: int


class LogCursor(BaseModel):
    """How far a tail got: the last sequence delivered, and where it stood in time."""

    model_config = ConfigDict(frozen=True)

    sequence: int = 0
    timestamp: datetime | None = None
    # Delivered lines carrying exactly `timestamp`: a resume by time skips that many.
    same_timestamp: int = 0

    def advance(self, lines: Sequence[OutputLine]) -> LogCursor:
        if not lines:
            return self
        last = lines[-1].timestamp
        same = 0
        for line in reversed(lines):
            if line.timestamp != last:
                break
            same += 1
        if same == len(lines) and last == self.timestamp:
            same += self.same_timestamp
        return LogCursor(sequence=self.sequence + len(lines), timestamp=last, same_timestamp=same)


class SeenFilter:
    """Drops the lines a resume by time delivers again (those up to the cursor)."""

    def __init__(self, after: LogCursor) -> None:
        self._since = after.timestamp
        self._skip = after.same_timestamp

    def fresh(self, lines: Sequence[OutputLine]) -> Sequence[OutputLine]:
        since = self._since
        if since is None:
            return lines
        for index, line in enumerate(lines):
            if line.timestamp < since:
                continue
            if line.timestamp == since and self._skip > 0:
                self._skip -= 1
                continue
            self._since = None  # past the cursor: everything from here on is new
            return lines[index:]
        return ()


def _boundary(data: bytes | bytearray, cut: int) -> int:
    """cut, moved back at most 3 bytes so that it does not split a UTF-8 character."""
    for back in range(4):
        if data[cut - back] & 0xC0 != 0x80:  # not a continuation byte: a character starts
            return cut - back
    return cut


class LineSplitter:
    """Turns chunks of raw output into messages: one per line, long lines in pieces."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_bytes
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[str]:
        pending = self._pending
        pending += chunk
        limit = self._max
        messages: list[str] = []
        start = 0
        while True:
            end = pending.find(b"\n", start, start + limit + 1)
            if end >= 0:
                messages.append(_decode(pending[start:end]))
                start = end + 1
            elif len(pending) - start > limit:  # no newline within the limit: cut a piece
                cut = _boundary(pending, start + limit)
                messages.append(_decode(pending[start:cut]) + CONTINUED)
                start = cut
            else:
                break
        del pending[:start]
        return messages

    def end(self) -> list[str]:
        """The last line, when the output did not end with a newline."""
        if not self._pending:
            return []
        last = _decode(self._pending)
        self._pending.clear()
        return [last]


def _decode(raw: bytes | bytearray) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode(errors="replace")


def bounded(message: str, max_bytes: int = MAX_LINE_BYTES) -> str:
    """A message pushed by an agent, truncated with the marker when over the limit."""
    if len(message) * 4 <= max_bytes:  # cheap check first: UTF-8 takes at most 4 bytes
        return message
    data = message.encode()
    if len(data) <= max_bytes:
        return message
    return data[: _boundary(data, max_bytes)].decode(errors="replace") + CONTINUED


def utcnow() -> datetime:
    return datetime.now(UTC)
