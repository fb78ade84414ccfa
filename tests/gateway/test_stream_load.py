"""Many ExecutePipeline streams at once: load never ends one INTERNAL.

Each stream completes, or ends UNAVAILABLE saying how to re-attach. Progress queries get a
short timeout here, so that the load makes some of them time out and be tried again.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage

STREAMS = 150


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return Settings(
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=RuntimeKind.MOCK,
        progress_query_timeout_seconds=1,
    )


async def outcome(stub: pb_grpc.OttoscalerServiceAsyncStub) -> tuple[grpc.StatusCode, str, str]:
    """The stream's status, its details and the pipeline id."""
    req = request(
        stage("a", duration="0.2"),
        stage("b", "a", duration="0.2"),
        stage("c", "a", duration="0.2"),
        stage("d", "b", "c"),
    )
    call = stub.ExecutePipeline(req)
    last = pb.PipelineProgress()
    try:
        async for last in call:  # noqa: B007 (the last event is what counts)
            pass
    except grpc.RpcError:
        pass
    code = await call.code()
    if code == grpc.StatusCode.OK:
        assert (last.stage_id, last.status) == ("", pb.STAGE_COMPLETED), last
    return code, await call.details() or "", req.pipeline_id


@pytest.mark.timeout(600)
async def test_concurrent_streams_complete_or_end_unavailable_with_a_reattach_hint(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    outcomes = await asyncio.gather(*(outcome(stub) for _ in range(STREAMS)))
    internal = [details for code, details, _ in outcomes if code == grpc.StatusCode.INTERNAL]
    assert not internal, internal[:3]
    for code, details, pipeline_id in outcomes:
        assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE), (code, details)
        if code == grpc.StatusCode.UNAVAILABLE:
            assert "WatchPipeline" in details and pipeline_id in details, details
