"""Masking: each secret value of a pipeline, and its base64 forms, becomes *** in its output.

As GitHub Actions does: a value is masked wherever it appears in a line; a value of
several lines is printed across a line split, so each of its lines is masked on its own
too; and its base64 encoding is masked at each of the three alignments it may have inside
longer base64 text (the characters that depend on its neighbours left out). Pieces too
short to tell from ordinary text are left alone.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "***"
# A line of a multi-line secret, or a base64 piece, shorter than this is not masked alone.
MIN_PIECE = 4


def _base64_pieces(value: str) -> set[str]:
    """The base64 characters that only the value decides, at each alignment."""
    data = value.encode()
    pieces = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode()
        first = -(-8 * offset // 6)  # the first character with no bit of the prefix
        last = 8 * (offset + len(data)) // 6  # past the last with no bit of what follows
        pieces.add(encoded[first:last])
    return {piece for piece in pieces if len(piece) >= MIN_PIECE}


def masked_forms(value: str) -> set[str]:
    if not value:
        return set()
    forms = {value, *_base64_pieces(value)}
    if "\n" in value or "\r" in value:
        forms.update(line for line in value.splitlines() if len(line.strip()) >= MIN_PIECE)
    return forms


class Masker:
    """Replaces every form of the given secret values by ***, the longest form first."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms = set().union(*(masked_forms(v) for v in values))
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)
