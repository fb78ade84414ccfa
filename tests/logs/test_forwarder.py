"""Forwarding to otto-handler: ACK, RETRY, DROP, throttle_ms, broken streams, slowness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from activities.logs import Archive, LiveHub, LogSinks, PodMeta
from gateway.logs.forwarder import LogForwarder
from gateway.server.metrics import Metrics
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.otto_handler import BREAK, FakeOttoHandler, Status, serving
from tests.logs.pipelines import collect, pipeline, printing
from tests.logs.test_archive import lines
from tests.waiting import eventually

THROTTLE_MS = 300


def picky(entry: pb.WorkerLogEntry, attempt: int) -> pb.LogForwardResponse:
    """Line 3 is refused once, 5 dropped, 7 throttles, 10 breaks the stream once."""
    if entry.sequence == 3 and attempt == 1:
        return pb.LogForwardResponse(status=Status.RETRY, message="busy")
    if entry.sequence == 5:
        return pb.LogForwardResponse(status=Status.DROP, message="invalid")
    if entry.sequence == 10 and attempt == 1:
        return BREAK
    throttle = THROTTLE_MS if entry.sequence == 7 else 0
    return pb.LogForwardResponse(status=Status.ACK, sequence=entry.sequence, throttle_ms=throttle)


async def test_each_answer_is_honoured_and_every_line_accepted_once_in_order(
    tmp_path: Path,
) -> None:
    handler = FakeOttoHandler(picky)
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub(), forward=True)
    meta = PodMeta(pod="p1-build-0", task_id="p1", pipeline_id="p1")
    async with serving(handler) as address:
        metrics = Metrics()
        forwarder = LogForwarder(address, archive, sinks.hub, "default", counts=metrics)
        async with forwarder.running():
            pod = await sinks.open(meta)
            await pod.write(lines(1, 12))
            await pod.complete()
            done = archive.paths(pod.meta).forwarded
            await eventually(lambda: _exists(done))
    assert handler.accepted["p1-build-0"] == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]
    counted = metrics.registry.get_sample_value
    assert counted("ottoscaler_log_lines_forwarded_total") == 11
    assert counted("ottoscaler_log_forward_lag_seconds_count") == 11
    assert counted("ottoscaler_log_lines_dropped_total", {"by": "otto_handler"}) == 1
    assert handler.attempts[("p1-build-0", 3)] == 2  # RETRY: sent again
    assert handler.attempts[("p1-build-0", 5)] == 1  # DROP: skipped
    assert handler.attempts[("p1-build-0", 10)] == 2  # the broken stream resumed there
    waited = handler.arrivals[("p1-build-0", 8)] - handler.arrivals[("p1-build-0", 7)]
    assert waited >= THROTTLE_MS / 1000


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


@pytest.mark.usefixtures("ottoscaler")
async def test_a_stalled_otto_handler_never_stalls_a_pipeline(
    stub: pb_grpc.OttoscalerServiceAsyncStub, otto_handler: FakeOttoHandler, settings: Settings
) -> None:
    otto_handler.answering.clear()  # takes the first line, then answers nothing
    request = pipeline(printing("build", lines=500))
    progress = await asyncio.wait_for(collect(stub.ExecutePipeline(request)), 20)
    assert progress[-1].status == pb.STAGE_COMPLETED
    assert sum(map(len, otto_handler.accepted.values())) == 0
    otto_handler.answering.set()  # otto-handler recovers: the archive is sent on

    async def all_accepted() -> bool:
        return [n for ns in otto_handler.accepted.values() for n in ns] == list(range(1, 501))

    await eventually(all_accepted)
