"""Backoff: the pauses between tries that fail in a row, reckoned in one place.

It only counts and computes; each caller sleeps (or holds back its sends) and gives up
in its own way. It sits here, outside the subpackages, so that every activity package
and the gateway may use it.
"""

from __future__ import annotations


class Backoff:
    """Pauses of `first` seconds, each twice the last, up to `cap` (a steady pace when
    they are equal); a reset starts them over. Past `retries` failures in a row (if
    given) it is exhausted."""

    def __init__(self, first: float, cap: float, *, retries: int | None = None) -> None:
        self._first = first
        self._cap = cap
        self._retries = retries
        self._next = first
        self._failures = 0

    def failed(self, at_least: float = 0.0) -> float:
        """Counts a failure; returns the pause before the next try, lengthened to
        `at_least` (a wait the server asked for) but never past the cap."""
        self._failures += 1
        pause = self._next
        # Doubled step by step, not as first * 2 ** failures, which overflows a float
        # after some thousand failures of a loop that never gives up.
        self._next = min(self._next * 2, self._cap)
        return min(self._cap, max(pause, at_least))

    @property
    def failures(self) -> int:
        """Failures in a row since the start or the last reset."""
        return self._failures

    @property
    def exhausted(self) -> bool:
        """More failures in a row than `retries`: the caller gives up."""
        return self._retries is not None and self._failures > self._retries

    def reset(self) -> None:
        self._next = self._first
        self._failures = 0
