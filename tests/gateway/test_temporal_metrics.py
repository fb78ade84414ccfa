"""The Temporal SDK's own metrics on TEMPORAL_METRICS_PORT: a pipeline moves them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from grpc import aio
from temporalio.testing import WorkflowEnvironment

from gateway.app import Running, running_ottoscaler
from gateway.settings import Settings
from gateway.temporal.client import connect
from gateway.temporal.telemetry import sdk_runtime
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.e2e.processes import free_port
from tests.gateway.test_execute_pipeline import request, stage
from tests.gateway.test_metrics import scrape
from tests.waiting import eventually


async def sdk_counts(port: int, task_queue: str) -> dict[str, float]:
    """Each temporal_ sample of this task queue, summed over its other labels."""
    counts: dict[str, float] = {}
    for (name, labels), value in (await scrape(port)).items():
        if name.startswith("temporal_") and ("task_queue", task_queue) in labels:
            counts[name] = counts.get(name, 0.0) + value
    return counts


@dataclass(frozen=True)
class Exporting:
    """An Ottoscaler whose Temporal client exports the SDK's metrics on sdk_port."""

    running: Running
    stub: pb_grpc.OttoscalerServiceAsyncStub
    sdk_port: int


@asynccontextmanager
async def exporting_ottoscaler(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Exporting]:
    port = free_port()
    exported = settings.model_copy(update={"temporal_metrics_port": port})
    address = temporal_env.client.service_client.config.target_host
    client = await connect(address, "default", runtime=sdk_runtime(exported))
    async with (
        running_ottoscaler(exported, client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        yield Exporting(running, pb_grpc.OttoscalerServiceStub(channel), port)


async def test_a_pipeline_moves_the_sdk_task_and_activity_metrics(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    queue = settings.temporal_task_queue
    async with exporting_ottoscaler(temporal_env, settings) as ottoscaler:
        port, stub = ottoscaler.sdk_port, ottoscaler.stub
        before = await sdk_counts(port, queue)
        events = [e async for e in stub.ExecutePipeline(request(stage("a", workers=2)))]
        assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)

        def moved(after: dict[str, float], name: str, by: float) -> bool:
            return after.get(name, 0.0) >= before.get(name, 0.0) + by

        async def counted() -> dict[str, float] | None:
            after = await sdk_counts(port, queue)
            done = moved(after, "temporal_workflow_completed_total", 1) and moved(
                after, "temporal_activity_execution_latency_count", 2
            )
            return after if done else None

        after = await eventually(counted, within=30)
    assert after is not None
    assert moved(after, "temporal_workflow_task_execution_latency_count", 2)
    assert moved(after, "temporal_workflow_task_schedule_to_start_latency_count", 1)
    assert moved(after, "temporal_activity_schedule_to_start_latency_count", 2)
