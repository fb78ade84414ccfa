"""Backoff: the one reckoning of pauses between failed tries (activities/backoff.py)."""

from __future__ import annotations

from activities.backoff import Backoff


def pauses(backoff: Backoff, count: int) -> list[float]:
    return [backoff.failed() for _ in range(count)]


def test_pauses_double_from_the_first_up_to_the_cap() -> None:
    assert pauses(Backoff(0.5, 4.0), 6) == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_first_pause_equal_to_the_cap_keeps_a_steady_pace() -> None:
    assert pauses(Backoff(0.1, 0.1), 3) == [0.1, 0.1, 0.1]


def test_a_reset_starts_the_pauses_over() -> None:
    backoff = Backoff(0.05, 5.0)
    pauses(backoff, 4)

    backoff.reset()

    assert backoff.failures == 0
    assert pauses(backoff, 2) == [0.05, 0.1]


def test_a_wait_the_server_asked_for_lengthens_one_pause_within_the_cap() -> None:
    backoff = Backoff(0.5, 30.0)

    assert backoff.failed(at_least=3.0) == 3.0
    assert backoff.failed(at_least=60.0) == 30.0
    assert backoff.failed() == 2.0  # the growth goes on as if nothing was asked


def test_it_is_exhausted_past_its_retries_until_reset() -> None:
    backoff = Backoff(0.1, 1.0, retries=2)
    pauses(backoff, 2)
    assert not backoff.exhausted

    backoff.failed()
    assert backoff.exhausted

    backoff.reset()
    assert not backoff.exhausted


def test_without_retries_it_never_gives_up_nor_overflows() -> None:
    backoff = Backoff(0.05, 5.0)

    assert pauses(backoff, 5000)[-1] == 5.0
    assert not backoff.exhausted
