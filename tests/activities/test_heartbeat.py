"""Heartbeats paced by the activity's own heartbeat timeout (activities/runtimes/boundary.py),
in the SDK's activity test environment."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio.testing import ActivityEnvironment

from activities.runtimes.boundary import (
    NO_TIMEOUT_HEARTBEAT_SECONDS,
    heartbeat_interval,
    heartbeating,
)


def activity_with(heartbeat_timeout: timedelta | None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=heartbeat_timeout)
    return env


@pytest.mark.parametrize(
    ("timeout", "at_most", "expected"),
    [
        (timedelta(seconds=30), None, 10.0),
        (timedelta(seconds=30), 1.0, 1.0),
        (timedelta(seconds=1.5), 1.0, 0.5),
        (None, None, NO_TIMEOUT_HEARTBEAT_SECONDS),
        (None, 1.0, 1.0),
    ],
    ids=["third", "capped", "third-below-cap", "no-timeout", "no-timeout-capped"],
)
def test_the_interval_is_a_third_of_the_heartbeat_timeout(
    timeout: timedelta | None, at_most: float | None, expected: float
) -> None:
    interval = activity_with(timeout).run(heartbeat_interval, at_most=at_most)

    assert interval == pytest.approx(expected)


async def test_heartbeating_beats_while_the_call_runs_then_returns_its_result() -> None:
    env = activity_with(timedelta(milliseconds=30))
    beats = 0
    enough = asyncio.Event()

    def beat(*details: object) -> None:
        nonlocal beats
        beats += 1
        if beats == 3:
            enough.set()

    env.on_heartbeat = beat

    async def call() -> str:
        await enough.wait()
        return "ended"

    assert await env.run(heartbeating, call()) == "ended"
    assert beats >= 3
