"""A progress query that times out never ends a stream INTERNAL: the stream tries again,
or, past STREAM_RETRY_SECONDS, ends UNAVAILABLE saying how to re-attach.

The gateway runs here without a Temporal worker of its own, beside a worker the test
stops and starts: while no worker runs, the pipeline's queries time out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeAlias

import grpc
import pytest
from grpc import aio
from temporalio.client import Client

from activities.capacity import Unlimited
from activities.runtimes.mock.runtime import MockRuntime
from gateway.logs.machinery import log_sinks
from gateway.logs.service import LogService
from gateway.pipelines.service import PipelineService
from gateway.pools.service import PoolService
from gateway.pools.status import WorkerStatusCache
from gateway.server.server import create_server
from gateway.server.servicer import OttoscalerServicer
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.builders import worker
from tests.gateway.test_execute_pipeline import request, stage
from tests.signing import SIGNER
from tests.waiting import eventually

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
RETRIED = "the progress query"


def settings_for(
    task_queue: str, tmp_path: Path, query_timeout: float, retry_seconds: float
) -> Settings:
    return Settings(
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=RuntimeKind.MOCK,
        ottoscaler_log_dir=tmp_path / "logs",
        progress_query_timeout_seconds=query_timeout,
        stream_retry_seconds=retry_seconds,
    )


@asynccontextmanager
async def gateway_alone(client: Client, settings: Settings) -> AsyncIterator[Stub]:
    """The gRPC gateway without the Temporal worker that `running_ottoscaler` adds."""
    async with log_sinks(settings) as (logs, _):
        servicer = OttoscalerServicer(
            pipelines=PipelineService(client, settings, SIGNER),
            pools=PoolService(
                client, settings, WorkerStatusCache(MockRuntime()), Unlimited(), SIGNER
            ),
            logs=LogService(settings, client, logs),
        )
        server, port = await create_server(servicer, "127.0.0.1", 0)
        try:
            async with aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield pb_grpc.OttoscalerServiceStub(channel)
        finally:
            await server.stop(None)


async def started_then_worker_stopped(
    client: Client, task_queue: str, runtime: MockRuntime, stub: Stub, req: pb.PipelineRequest
) -> aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress]:
    """Runs the pipeline until its stage's attempt has started, then stops the worker; the
    stream that started it stays open."""
    async with worker(client, task_queue, runtime):
        call = stub.ExecutePipeline(req)
        async for event in call:
            if event.stage_id and event.worker_pod_names:
                break
    return call


async def test_a_query_that_times_out_is_tried_again_and_the_stream_goes_on(
    client: Client, task_queue: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.pipelines.patience")
    runtime = MockRuntime()
    req = request(stage("build", duration="2"))
    async with gateway_alone(client, settings_for(task_queue, tmp_path, 1, 300)) as stub:
        first = await started_then_worker_stopped(client, task_queue, runtime, stub, req)
        # Attaching replays the history: its completed workflow tasks make the stream
        # query a pipeline that no worker answers.
        attached = stub.ExecutePipeline(req)

        async def timed_out() -> bool:
            return any(RETRIED in record.getMessage() for record in caplog.records)

        await eventually(timed_out, within=60)
        async with worker(client, task_queue, runtime):
            streams = [[e async for e in call] for call in (attached, first)]
    for call, events in zip((attached, first), streams, strict=True):
        assert await call.code() == grpc.StatusCode.OK, await call.details()
        assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)
    assert streams[0][0].status == pb.STAGE_RUNNING  # the attached stream replayed from the start


async def test_past_its_retries_a_stream_ends_unavailable_saying_how_to_reattach(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    runtime = MockRuntime()
    req = request(stage("build", duration="1"))
    async with gateway_alone(client, settings_for(task_queue, tmp_path, 1, 2)) as stub:
        first = await started_then_worker_stopped(client, task_queue, runtime, stub, req)
        attached = stub.ExecutePipeline(req)
        with pytest.raises(grpc.RpcError):
            _ = [event async for event in attached]
        assert await attached.code() == grpc.StatusCode.UNAVAILABLE
        hint = await attached.details()
        assert "WatchPipeline" in hint and req.pipeline_id in hint, hint
        with pytest.raises(grpc.RpcError) as snapshot:
            await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
        assert snapshot.value.code() == grpc.StatusCode.UNAVAILABLE

        async with worker(client, task_queue, runtime):
            # As the hint says: the pipeline went on, and WatchPipeline follows it to its end.
            watch = stub.WatchPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
            watched = [event async for event in watch]
            _ = [event async for event in first]
    assert await watch.code() == grpc.StatusCode.OK
    # Its snapshot, or its last event if it finished after the snapshot, says COMPLETED.
    assert ("", pb.STAGE_COMPLETED) in [(e.stage_id, e.status) for e in watched]
