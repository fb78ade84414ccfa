"""Prometheus metrics: real calls over gRPC, then GET /metrics over HTTP and read the counts."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import grpc
import prometheus_client
import pytest
from grpc import aio
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from temporalio.client import Client

from gateway.app import Running, running_ottoscaler
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.waiting import eventually

SERVICE = "ottoscaler.v1.OttoscalerService"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_port": 0})


def _get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


async def scrape(port: int) -> Samples:
    text = await asyncio.to_thread(_get, port)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def calls(samples: Samples, method: str, code: str) -> float:
    key = ("ottoscaler_grpc_requests_total", (("code", code), ("method", f"{SERVICE}/{method}")))
    return samples.get(key, 0.0)


def timed(samples: Samples, method: str) -> float:
    key = ("ottoscaler_grpc_request_seconds_count", (("method", f"{SERVICE}/{method}"),))
    return samples.get(key, 0.0)


def workers(samples: Samples) -> tuple[float, float]:
    return (
        samples.get(("ottoscaler_workers_created_total", ()), 0.0),
        samples.get(("ottoscaler_workers_deleted_total", ()), 0.0),
    )


async def test_calls_are_counted_by_method_and_status_code(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    await stub.GetWorkerStatus(pb.WorkerStatusRequest(task_id="nobody"))
    await stub.GetWorkerStatus(pb.WorkerStatusRequest(task_id="nobody"))
    with pytest.raises(aio.AioRpcError) as missing:
        await stub.GetPipeline(pb.PipelineRef(pipeline_id="no-such-pipeline"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(aio.AioRpcError) as invalid:
        await stub.ExecutePipeline(request(stage("a", "ghost"))).read()
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    samples = await scrape(ottoscaler.metrics_port)
    assert calls(samples, "GetWorkerStatus", "OK") == 2
    assert calls(samples, "GetPipeline", "NOT_FOUND") == 1
    assert calls(samples, "GetPipeline", "OK") == 0
    assert calls(samples, "ExecutePipeline", "INVALID_ARGUMENT") == 1
    assert timed(samples, "GetWorkerStatus") == 2
    assert timed(samples, "GetPipeline") == 1


async def test_a_stream_counts_once_when_it_ends_and_workers_are_counted(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    events = [
        e async for e in stub.ExecutePipeline(request(stage("a"), stage("b", "a", workers=2)))
    ]
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)

    async def counted() -> Samples | None:
        samples = await scrape(ottoscaler.metrics_port)
        done = calls(samples, "ExecutePipeline", "OK") == 1 and workers(samples) == (3, 3)
        return samples if done else None

    samples = await eventually(counted)
    assert samples is not None
    assert timed(samples, "ExecutePipeline") == 1


async def test_a_stream_the_client_abandons_counts_as_cancelled(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    req = request(stage("slow", duration="60"))
    call = stub.ExecutePipeline(req)
    first = await call.read()  # the pipeline's RUNNING: the stream is open
    assert isinstance(first, pb.PipelineProgress) and first.stage_id == ""
    call.cancel()

    async def cancelled() -> bool:
        samples = await scrape(ottoscaler.metrics_port)
        return calls(samples, "ExecutePipeline", "CANCELLED") == 1

    await eventually(cancelled)
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))


async def test_rejected_calls_count_as_unauthenticated(client: Client, settings: Settings) -> None:
    secured = settings.model_copy(update={"ottoscaler_auth_token": SecretStr("metrics-token")})
    async with (
        running_ottoscaler(secured, client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        with pytest.raises(aio.AioRpcError):
            await stub.GetWorkerStatus(pb.WorkerStatusRequest(task_id="nobody"))
        samples = await scrape(running.metrics_port)
    assert calls(samples, "GetWorkerStatus", "UNAUTHENTICATED") == 1
    assert calls(samples, "GetWorkerStatus", "OK") == 0


async def test_each_ottoscaler_has_its_own_registry_and_stops_serving_it(
    client: Client, settings: Settings, task_queue: str
) -> None:
    # One Temporal worker per task queue and client: the second gets a queue of its own.
    other = settings.model_copy(update={"temporal_task_queue": f"{task_queue}-2"})
    async with (
        running_ottoscaler(settings, client) as first,
        running_ottoscaler(other, client) as second,
    ):
        assert first.metrics_port != second.metrics_port
        async with aio.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
            stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
            await stub.GetWorkerStatus(pb.WorkerStatusRequest(task_id="nobody"))
        assert calls(await scrape(first.metrics_port), "GetWorkerStatus", "OK") == 1
        assert calls(await scrape(second.metrics_port), "GetWorkerStatus", "OK") == 0
    global_names = {family.name for family in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("ottoscaler_") for name in global_names)
    with pytest.raises(urllib.error.URLError):
        await scrape(first.metrics_port)
