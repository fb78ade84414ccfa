"""What a mock worker prints: `mock.lines` lines, "line 1" to "line N", on stdout.

At `mock.line_rate` lines per second line n is printed n/rate seconds after the worker
started, and carries that time; at rate 0 every line is printed at once, as fast as the
reader takes them. The output is a pure function of the clock, so a follower resumes
after any sequence, and a line's timestamp is when it was printed, not when it was read.
A worker stops printing when it is deleted or reaches its timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta

from activities.logs.lines import MAX_BATCH, STDOUT, OutputLine, utcnow


class MockOutput:
    def __init__(self, lines: int, rate: float, started: datetime, timeout: float) -> None:
        self.started = started
        self.rate = rate
        self.total = self.printed_by(timeout, lines) if timeout > 0 else lines

    def printed_by(self, seconds: float, lines: int) -> int:
        if seconds < 0:
            return 0
        return lines if self.rate <= 0 else min(lines, int(seconds * self.rate))

    def lines(self, first: int, last: int) -> list[OutputLine]:
        if self.rate <= 0:
            now = utcnow()
            return [OutputLine(now, STDOUT, f"line {n}") for n in range(first, last + 1)]
        started, rate = self.started, self.rate
        return [
            OutputLine(started + timedelta(seconds=n / rate), STDOUT, f"line {n}")
            for n in range(first, last + 1)
        ]

    async def follow(
        self, after: int, running: Callable[[], bool]
    ) -> AsyncIterator[Sequence[OutputLine]]:
        printed = after
        while printed < self.total and running():
            elapsed = (utcnow() - self.started).total_seconds()
            due = self.printed_by(elapsed, self.total)
            if due <= printed:
                wait = (printed + 1) / self.rate - elapsed if self.rate > 0 else -elapsed
                await asyncio.sleep(max(wait, 0.001))
                continue
            upto = min(due, printed + MAX_BATCH)
            yield self.lines(printed + 1, upto)
            printed = upto
