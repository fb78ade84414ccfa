"""Turns a developer's name into the DNS-1123 label of their kind cluster and namespace.

`make setup-user USER=한진우` creates the kind cluster `ottoscaler-hanjinwoo` and the
namespace `hanjinwoo-dev`. Hangul is romanised with the Revised Romanization of Korean
(RR), syllable by syllable: RR does not transcribe the sound changes between the
syllables of a personal name (한복남 is "Han Boknam", not "Bongnam"), so the only rule
across syllables is that ㄹ followed by ㄹ is written "ll".

One departure from RR, for names: a syllable that is a bare ㅜ (우, 욱, 웅, ...) is
written "woo" as Korean given names customarily are (진우 -> jinwoo); RR's plain "u"
would make 진우 read as 지누 (jinu).

Standard library only: `make setup-user` runs this before the project's venv may exist.
"""

from __future__ import annotations

import re
import sys

# Hangul syllables are laid out arithmetically: (initial * 21 + medial) * 28 + final.
_FIRST_SYLLABLE = 0xAC00
_LAST_SYLLABLE = 0xD7A3
_MEDIAL_COUNT = 21
_FINAL_COUNT = 28

_INITIALS = (
    "g", "kk", "n", "d", "tt", "r", "m", "b", "pp", "s",
    "ss", "", "j", "jj", "ch", "k", "t", "p", "h",
)  # fmt: skip
_MEDIALS = (
    "a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae",
    "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i",
)  # fmt: skip
# Finals are written as they sound at the end of a syllable (RR's 7 representative sounds).
_FINALS = (
    "", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l",
    "p", "l", "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t",
)  # fmt: skip

_SILENT_INITIAL = 11  # ㅇ
_RIEUL_INITIAL = 5  # ㄹ
_RIEUL_FINAL = 8  # ㄹ
_U_MEDIAL = 13  # ㅜ

# Spaces, dots and underscores are what people type between parts of a name.
_SEPARATORS = re.compile(r"[\s._]+")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

# The longest derived name is kind's node container, "ottoscaler-<name>-control-plane",
# which must itself be a DNS-1123 label of at most 63 characters.
MAX_LENGTH = 63 - len("ottoscaler-") - len("-control-plane")


class InvalidUserName(ValueError):
    """The name cannot become a DNS-1123 label; the message says why."""


def _syllable(code: int, previous_final: int | None) -> tuple[str, int]:
    """Romanises one Hangul syllable; returns its text and its final's index."""
    index = code - _FIRST_SYLLABLE
    initial, rest = divmod(index, _MEDIAL_COUNT * _FINAL_COUNT)
    medial, final = divmod(rest, _FINAL_COUNT)
    if initial == _SILENT_INITIAL and medial == _U_MEDIAL:
        head = "woo"
    elif initial == _RIEUL_INITIAL and previous_final == _RIEUL_FINAL:
        head = "l" + _MEDIALS[medial]
    else:
        head = _INITIALS[initial] + _MEDIALS[medial]
    return head + _FINALS[final], final


def romanize(name: str) -> str:
    """Returns `name` as a lowercase DNS-1123 label, or raises InvalidUserName."""
    text = _SEPARATORS.sub("-", name.strip())
    if not text:
        raise InvalidUserName("the name is empty; pass USER=<your name>")
    parts: list[str] = []
    previous_final: int | None = None
    for char in text:
        code = ord(char)
        if _FIRST_SYLLABLE <= code <= _LAST_SYLLABLE:
            syllable, previous_final = _syllable(code, previous_final)
            parts.append(syllable)
            continue
        previous_final = None
        if not (char.isascii() and (char.isalnum() or char == "-")):
            raise InvalidUserName(
                f"{char!r} is neither an ASCII letter, a digit, '-' nor a Hangul syllable"
            )
        parts.append(char.lower())
    label = "".join(parts)
    if len(label) > MAX_LENGTH:
        raise InvalidUserName(
            f"{label!r} is {len(label)} characters long; at most {MAX_LENGTH} fit in "
            f"the kind node name 'ottoscaler-<name>-control-plane'"
        )
    if not _DNS1123_LABEL.match(label):
        raise InvalidUserName(f"{label!r} must start and end with a letter or a digit")
    return label


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tools.romanize NAME", file=sys.stderr)
        return 2
    try:
        print(romanize(args[0]))
    except InvalidUserName as error:
        print(
            f"error: cannot make a cluster and namespace name from {args[0]!r}: {error}. "
            "Use letters, digits and '-', or a Korean name in Hangul (e.g. USER=한진우).",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
