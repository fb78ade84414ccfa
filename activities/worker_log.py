"""A worker's output as numbered lines: sequence from 1, no gaps, with source and time."""

from __future__ import annotations

import asyncio
from datetime import datetime

from pydantic import BaseModel

from activities.runtimes.records import utcnow

# Longer lines are cut and marked, so one runaway line cannot swamp memory or a stream.
MAX_LINE_BYTES = 64 * 1024
TRUNCATED = " …[truncated]"


class LogLine(BaseModel):
    sequence: int
    timestamp: datetime
    source: str
    message: str


def decode_line(raw: bytes) -> str:
    """Invalid UTF-8 is replaced, not fatal; binary output never breaks the stream."""
    text = raw.rstrip(b"\r\n")
    if len(text) > MAX_LINE_BYTES:
        return text[:MAX_LINE_BYTES].decode(errors="replace") + TRUNCATED
    return text.decode(errors="replace")


class WorkerLog:
    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self.closed = False
        self._changed = asyncio.Condition()

    async def append(self, source: str, message: str) -> None:
        async with self._changed:
            self.lines.append(
                LogLine(
                    sequence=len(self.lines) + 1,
                    timestamp=utcnow(),
                    source=source,
                    message=message,
                )
            )
            self._changed.notify_all()

    async def pump(self, stream: asyncio.StreamReader, source: str) -> None:
        while raw := await stream.readline():
            await self.append(source, decode_line(raw))

    def close(self) -> None:
        self.closed = True
