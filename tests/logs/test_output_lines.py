"""Raw output becomes bounded, valid lines; a resume by time drops exactly what was delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from activities.logs.lines import (
    CONTINUED,
    LineSplitter,
    LogCursor,
    OutputLine,
    SeenFilter,
    bounded,
)


def split(*chunks: bytes, limit: int = 16) -> list[str]:
    splitter = LineSplitter(limit)
    return [message for chunk in chunks for message in splitter.feed(chunk)] + splitter.end()


def test_lines_split_across_chunks_and_the_last_without_newline_are_kept() -> None:
    assert split(b"one\r\ntw", b"o\n", b"\n", b"three") == ["one", "two", "", "three"]


def test_a_line_over_the_limit_is_cut_into_marked_pieces() -> None:
    pieces = split(b"x" * 40 + b"\nshort\n")
    assert pieces == ["x" * 16 + CONTINUED, "x" * 16 + CONTINUED, "x" * 8, "short"]


def test_a_cut_never_splits_a_character_and_invalid_utf8_is_replaced() -> None:
    pieces = split("ü".encode() * 10 + b"\n" + b"\xff\xfebin\x00ary\n")
    assert "".join(p.removesuffix(CONTINUED) for p in pieces[:-1]) == "ü" * 10
    assert all(len(p.removesuffix(CONTINUED).encode()) <= 16 for p in pieces)
    assert pieces[-1] == "\ufffd\ufffdbin\x00ary"


def test_agent_messages_over_the_limit_are_truncated_with_the_marker() -> None:
    assert bounded("short", 16) == "short"
    assert bounded("é" * 20, 16) == "é" * 8 + CONTINUED


T0 = datetime(2025, 9, 1, tzinfo=UTC)


@given(
    st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=30),
    st.data(),
)
def test_a_resume_by_time_drops_exactly_the_delivered_lines(
    steps: list[int], data: st.DataObject
) -> None:
    """Kubernetes' sinceTime resends every line from that time on, repeated times included."""
    times = [T0 + timedelta(milliseconds=sum(steps[: i + 1])) for i in range(len(steps))]
    lines = [OutputLine(t, "stdout", f"line {i}") for i, t in enumerate(times, 1)]
    delivered = data.draw(st.integers(min_value=0, max_value=len(lines)))
    cursor = LogCursor()
    for start in range(0, delivered, 4):  # delivered in batches, as the tail does
        cursor = cursor.advance(lines[start : min(start + 4, delivered)])
    since = cursor.timestamp
    resent = [line for line in lines if since is None or line.timestamp >= since]
    fresh = SeenFilter(cursor)
    assert [*fresh.fresh(resent[:3]), *fresh.fresh(resent[3:])] == lines[delivered:]
