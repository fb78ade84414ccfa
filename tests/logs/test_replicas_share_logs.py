"""Two Ottoscaler replicas on one Temporal and one PostgreSQL: whichever tails a pod,
either serves its lines, live, each once and in order, and otto-handler gets every line
once, forwarded by one replica at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeAlias

import pytest
from grpc import aio
from temporalio.client import Client

from gateway.app import Running, running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.otto_handler import FakeOttoHandler
from tests.logs.pipelines import by_pod, collect, log_entries, pipeline, printed, printing
from tests.waiting import eventually

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"


@pytest.fixture
async def replicas(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    database_url: str,
    otto_handler_addr: str,
) -> AsyncIterator[list[tuple[Running, Stub]]]:
    """Two replicas: own data dirs, one task queue, one database."""
    async with AsyncExitStack() as stack:
        found = []
        for name in ("a", "b"):
            settings = Settings(
                grpc_port=0,
                temporal_task_queue=task_queue,
                ottoscaler_runtime=RuntimeKind.MOCK,
                ottoscaler_data_dir=tmp_path / name,
                ottoscaler_database_url=database_url,
                otto_handler_addr=otto_handler_addr,
            )
            # A client each, as replicas have: one client takes one worker per queue.
            own = await Client.connect(
                client.service_client.config.target_host, data_converter=client.data_converter
            )
            running = await stack.enter_async_context(running_ottoscaler(settings, own))
            channel = await stack.enter_async_context(
                aio.insecure_channel(f"127.0.0.1:{running.grpc_port}")
            )
            found.append((running, pb_grpc.OttoscalerServiceStub(channel)))
        yield found


async def test_either_replica_follows_every_line_once_in_order(
    replicas: list[tuple[Running, Stub]], otto_handler: FakeOttoHandler
) -> None:
    (_, first), (_, second) = replicas
    request = pipeline(
        printing("build", workers=3, lines=400, rate=400),
        printing("test", "build", lines=150),
    )
    running = asyncio.create_task(collect(first.ExecutePipeline(request)))

    async def started() -> bool:
        try:
            await second.GetPipeline(pb.PipelineRef(pipeline_id=request.pipeline_id))
        except aio.AioRpcError:
            return False
        return True

    await eventually(started)
    follow = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id, follow=True)
    followed = [
        asyncio.create_task(log_entries(stub, follow, batched=batched))
        for stub in (first, second)
        for batched in (False, True)
    ]
    progress = await asyncio.wait_for(running, 120)
    assert progress[-1].status == pb.STAGE_COMPLETED
    for stream in followed:
        pods = by_pod(await asyncio.wait_for(stream, 60))  # ends with the pipeline
        assert sorted(len(lines) for lines in pods.values()) == [150, 400, 400, 400]
        for pod, lines in pods.items():
            assert lines == printed(150 if "-test-" in pod else 400), pod

    async def all_forwarded() -> bool:
        return sum(len(seqs) for seqs in otto_handler.accepted.values()) >= 3 * 400 + 150

    await eventually(all_forwarded)
    for pod, sequences in otto_handler.accepted.items():
        assert sequences == list(range(1, len(sequences) + 1)), pod
    assert sorted(len(s) for s in otto_handler.accepted.values()) == [150, 400, 400, 400]
