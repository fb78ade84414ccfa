"""SIGTERM of `ottoscaler serve` mid-pipeline, as a rolling update sends it: the new
process is already up, the old one exits cleanly by itself, its client is told to
re-attach, and the new one finishes the work."""

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

# Generous: the gateway grants open streams 5 s (gateway/app.py STOP_GRACE_SECONDS).
EXIT_WITHIN = 30.0


async def test_a_terminated_process_exits_and_hands_over(
    client: Client, kube_cluster: KubeCluster, launch: Launch
) -> None:
    emulator = kube_cluster.emulator
    old = await launch()
    async with under_load(old, client, emulator) as inflight:
        new = await launch()
        old.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(old.process.wait(), EXIT_WITHIN) == 0
        # The gateway cancels the open stream on its way out; UNAVAILABLE tells the
        # client to retry, which re-attaches (ExecutePipeline or WatchPipeline).
        assert await stream_end(inflight.execute) == grpc.StatusCode.UNAVAILABLE

    seen = await asyncio.wait_for(reattach_and_finish(new, emulator, inflight), FINISH_WITHIN)

    assert_finished_exactly_once(inflight, seen, emulator)
    assert old.logged_errors() == [] and new.logged_errors() == []
