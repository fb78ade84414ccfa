"""Masking: each secret value of a pipeline, and its base64 forms, becomes *** in its output.

As GitHub Actions does: a value is masked wherever it appears in a line; a value of
several lines is printed across a line split, so each of its lines is masked on its own
too; and its base64 encoding is masked at each of the three alignments it may have inside
longer base64 text (the characters that depend on its neighbours left out). Pieces too
short to tell from ordinary text are left alone. A value the runtime's line split cut
(a line over MAX_LINE_BYTES) is masked across the cut: SplitLineMasker.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from activities.logs.lines import CONTINUED

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
        self._forms = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, self._forms))) if forms else None
        self.longest = len(self._forms[0]) if forms else 0

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def completed(self, before: str, text: str) -> int:
        """How many characters at text's start end a form that begins in `before`."""
        if self._pattern is None:
            return 0
        joined = before + text
        ends = (self._pattern.match(joined, start) for start in range(len(before)))
        return max((m.end() - len(before) for m in ends if m and m.end() > len(before)), default=0)

    def begun(self, text: str) -> str:
        """text with its end masked when that end is the start of a form (MIN_PIECE or more)."""
        sizes = (
            size
            for form in self._forms
            for size in range(min(len(form) - 1, len(text)), MIN_PIECE - 1, -1)
            if text.endswith(form[:size])
        )
        size = max(sizes, default=0)
        return text[:-size] + MASK if size else text


class SplitLineMasker:
    """Masks a stream's lines, also a value the line split cut in two (as GitHub Actions
    does): a piece ending with CONTINUED has its end masked when it begins a secret form,
    and the next piece of that source its head when, with that end, it completes one."""

    def __init__(self, mask: Masker) -> None:
        self._mask = mask
        self._carry: dict[str, str] = {}  # per source: the unmasked end of its cut piece

    def __call__(self, source: str, message: str) -> str:
        if not self._mask.longest:
            return message
        carry = self._carry.pop(source, "")
        cut = message.endswith(CONTINUED)
        text = message.removesuffix(CONTINUED) if cut else message
        head = self._mask.completed(carry, text) if carry else 0
        masked = (MASK if head else "") + self._mask(text[head:])
        if not cut:
            return masked
        self._carry[source] = text[-self._mask.longest :]
        return self._mask.begun(masked) + CONTINUED
