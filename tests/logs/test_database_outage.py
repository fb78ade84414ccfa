"""The log database stops for 20 s in the middle of a pipeline and starts again: the
pipeline completes, every line is archived and forwarded once and in order, log readers
meanwhile get UNAVAILABLE, never INTERNAL, and health says NOT_SERVING until it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from gateway.app import running_ottoscaler
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.otto_handler import FakeOttoHandler
from tests.logs.pipelines import by_pod, collect, log_entries, pipeline, printed, printing
from tests.postgres import RestartablePostgres
from tests.waiting import eventually
from workflows.workers.naming import pipeline_workflow_id

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
OUTAGE_SECONDS = 20
LINES = 400


@pytest.fixture
async def channel(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    restartable_postgres: RestartablePostgres,
    otto_handler_addr: str,
) -> AsyncIterator[aio.Channel]:
    settings = Settings(
        grpc_port=0,
        temporal_task_queue=task_queue,
        ottoscaler_runtime=RuntimeKind.MOCK,
        ottoscaler_data_dir=tmp_path / "data",
        ottoscaler_database_url=restartable_postgres.url,
        otto_handler_addr=otto_handler_addr,
    )
    async with (
        running_ottoscaler(settings, client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        yield channel


async def test_logs_wait_for_the_database_and_lose_nothing(
    channel: aio.Channel,
    client: Client,
    restartable_postgres: RestartablePostgres,
    otto_handler: FakeOttoHandler,
) -> None:
    # 400 lines at 20 a second: the workers print for 20 s, through the outage.
    request = pipeline(
        printing("build", workers=2, lines=LINES, rate=20), printing("after", "build", lines=5)
    )
    stub: Stub = pb_grpc.OttoscalerServiceStub(channel)
    health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs carry no types

    async def health_is(status: int) -> bool:
        answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
        return bool(answer.status == status)

    running = asyncio.create_task(collect(stub.ExecutePipeline(request)))

    async def forwarding() -> bool:
        return sum(map(len, otto_handler.accepted.values())) >= 40

    await eventually(forwarding, within=60)
    await restartable_postgres.stop()
    await eventually(lambda: health_is(health_pb2.HealthCheckResponse.NOT_SERVING))
    # Meanwhile a reader is told the archive is unavailable, not that Ottoscaler broke.
    replay = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id)
    with pytest.raises(aio.AioRpcError) as refused:
        await log_entries(stub, replay, batched=False)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "log database is unreachable" in str(refused.value.details())
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself: what is under test is its length
    await restartable_postgres.start()
    await eventually(lambda: health_is(health_pb2.HealthCheckResponse.SERVING), within=30)

    progress = await asyncio.wait_for(running, 120)
    assert progress[-1].status == pb.STAGE_COMPLETED
    # The workers' activities waited for the database: none failed and was retried.
    history = await client.get_workflow_handle(
        pipeline_workflow_id(request.pipeline_id)
    ).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts == [1, 1, 1]
    pods = by_pod(await log_entries(stub, replay, batched=True))
    assert sorted(len(lines) for lines in pods.values()) == [5, LINES, LINES]
    for pod, lines in pods.items():
        assert lines == printed(5 if "-after-" in pod else LINES), pod

    async def all_forwarded() -> bool:
        return sum(map(len, otto_handler.accepted.values())) >= 2 * LINES + 5

    await eventually(all_forwarded, within=60)
    for pod, sequences in otto_handler.accepted.items():
        assert sequences == list(range(1, len(sequences) + 1)), pod
    assert sorted(map(len, otto_handler.accepted.values())) == [5, LINES, LINES]
