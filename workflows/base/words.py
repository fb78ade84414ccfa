"""Counted nouns in messages a person reads."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """'1 worker', '3 workers'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
