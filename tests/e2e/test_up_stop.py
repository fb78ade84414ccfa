"""Ctrl-C of `ottoscaler up` during a pipeline: the worker and the gateway stop before the
dev server, so nothing complains about a server that is gone (bench/stop.py times it)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.e2e.processes import alive
from tests.e2e.stack import Ports, Stack

EXIT_WITHIN = 60.0  # generous on a loaded machine; bench/stop.py measures it


async def worker_running(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress]:
    """ExecutePipeline of one long stage; returns the open stream once its worker runs."""
    stage = pb.PipelineStage(stage_id="long", config={"mock.duration": "600"})
    stream = stub.ExecutePipeline(
        pb.PipelineRequest(pipeline_id=f"stop-{uuid.uuid4().hex[:8]}", stages=[stage])
    )
    async for event in stream:
        if event.stage_id == "long" and event.worker_pod_names:
            return stream
    raise AssertionError("the stream ended before the worker ran")


@pytest.mark.e2e
async def test_ctrl_c_during_a_pipeline_stops_everything_quietly(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data", Ports.free())
    try:
        async with aio.insecure_channel(f"127.0.0.1:{stack.ports.grpc}") as channel:
            stream = await worker_running(pb_grpc.OttoscalerServiceStub(channel))
            stack.ctrl_c()
            assert stack.process.wait(EXIT_WITHIN) == 0
            stream.cancel()
    finally:
        stack.kill()
    output = stack.text()
    assert "tcp connect error" not in output
    assert not re.findall(r"\bWARN\b", output), output
    assert "Traceback" not in output
    assert [pid for pid in stack.children if alive(pid)] == []
