"""SIGKILL of `ottoscaler serve` while a pipeline's pods run: a new process finishes it.

The first stage's pods outlive the killed process and succeed while nothing awaits them;
the new process learns that from the pods themselves, then runs the rest of the DAG.
"""

from __future__ import annotations

import asyncio
import signal

import grpc
from temporalio.client import Client

from tests.kube.fixtures import KubeCluster
from tests.reliability.reattach import (
    FINISH_WITHIN,
    assert_finished_exactly_once,
    reattach_and_finish,
)
from tests.reliability.scenario import stream_end, under_load
from tests.reliability.serve import Launch


async def test_a_killed_process_loses_nothing(
    client: Client, kube_cluster: KubeCluster, launch: Launch
) -> None:
    emulator = kube_cluster.emulator
    first = await launch()
    async with under_load(first, client, emulator) as inflight:
        first.process.send_signal(signal.SIGKILL)
        assert await first.process.wait() == -signal.SIGKILL
        # Its client sees the stream break with a status that says "try again".
        assert await stream_end(inflight.execute) == grpc.StatusCode.UNAVAILABLE

    second = await launch()
    seen = await asyncio.wait_for(reattach_and_finish(second, emulator, inflight), FINISH_WITHIN)

    assert_finished_exactly_once(inflight, seen, emulator)
    assert second.logged_errors() == []
