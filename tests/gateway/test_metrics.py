"""Prometheus metrics: real calls over gRPC, then GET /metrics over HTTP and read the counts."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import prometheus_client
import pytest
from grpc import aio
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from temporalio.client import Client

from activities.runtimes.mock.runtime import MockRuntime
from gateway.app import Running, running_ottoscaler
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.pools.calls import new_task, scale_request
from tests.waiting import eventually
from workflows.reaper.workflow import ReaperWorkflow, ReapInput
from workflows.workers.spec import MANAGED_BY, Labels, WorkerSpec

SERVICE = "ottoscaler.v1.OttoscalerService"
PHASES = ("pending", "running", "succeeded", "failed")
FINAL = ("COMPLETED", "FAILED", "CANCELLED")
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


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def retried_once(stage_id: str, reason: str) -> pb.PipelineStage:
    """A stage whose first attempt fails for `reason` and whose second completes; its
    workers stay pending 0.2 s first."""
    with_retries = stage(stage_id, fail_attempts="1", reason=reason, pending="0.2")
    with_retries.retry_policy.max_attempts = 2
    with_retries.retry_policy.retry_delay_seconds = 0
    return with_retries


async def test_pipelines_stages_retries_and_workers_are_counted_as_they_ran(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    flaky = request(retried_once("flaky", "OOMKilled"))
    # A failure: the first stage fails for good, the second is skipped.
    broken = request(stage("broken", exit_code="3", pending="0.2"), stage("after", "broken"))
    slow = stub.ExecutePipeline(request(stage("slow", duration="60")))
    await slow.read()  # its RUNNING: the stream is open
    gauge = ("ottoscaler_open_streams", (("method", f"{SERVICE}/ExecutePipeline"),))
    assert (await scrape(ottoscaler.metrics_port))[gauge] == 1
    finals = []
    for req in (flaky, broken):
        events = [e async for e in stub.ExecutePipeline(req)]
        finals.append(pb.StageStatus.Name(events[-1].status))
    assert finals == ["STAGE_COMPLETED", "STAGE_FAILED"]
    slow.cancel()

    async def settled() -> Samples | None:
        samples = await scrape(ottoscaler.metrics_port)
        # Runs are counted once Temporal's history says this worker ran them: soon after.
        counted = value(samples, "ottoscaler_pipelines_started_total") >= 3 and (
            sum(value(samples, "ottoscaler_pipeline_seconds_count", status=s) for s in FINAL) >= 2
        )
        return samples if samples[gauge] == 0 and counted else None

    samples = await eventually(settled)
    assert samples is not None
    assert value(samples, "ottoscaler_pipelines_started_total") == 3
    assert value(samples, "ottoscaler_pipelines_ended_total", status="COMPLETED") == 1
    assert value(samples, "ottoscaler_pipelines_ended_total", status="FAILED") == 1
    assert value(samples, "ottoscaler_pipeline_seconds_count", status="COMPLETED") == 1
    assert value(samples, "ottoscaler_pipeline_seconds_count", status="FAILED") == 1
    # Stages that ran; the skipped one never started, so it has no duration.
    assert value(samples, "ottoscaler_stage_seconds_count", status="COMPLETED") == 1
    assert value(samples, "ottoscaler_stage_seconds_count", status="FAILED") == 1
    assert value(samples, "ottoscaler_stage_seconds_count", status="SKIPPED") == 0
    assert value(samples, "ottoscaler_stage_retries_total", reason="OOMKilled") == 1
    assert (
        sum(v for (name, _), v in samples.items() if name == "ottoscaler_stage_retries_total") == 1
    )
    # Three workers ended (two attempts of flaky, broken), each pending 0.2 s after its
    # creation; the slow one was cancelled before it ended.
    assert value(samples, "ottoscaler_worker_start_seconds_count", runtime="mock") == 3
    assert value(samples, "ottoscaler_worker_start_seconds_sum", runtime="mock") >= 0.6


async def test_workers_by_phase_follow_a_pool(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    task = new_task()
    await stub.ScaleUp(scale_request(task, 2, mock_duration="60"))

    async def running() -> Samples | None:
        samples = await scrape(ottoscaler.metrics_port)
        return samples if value(samples, "ottoscaler_workers", phase="running") == 2 else None

    samples = await eventually(running, within=30)
    assert samples is not None
    assert value(samples, "ottoscaler_workers", phase="pending") == 0
    await stub.ScaleDown(pb.ScaleRequest(task_id=task, worker_count=0))

    async def gone() -> bool:
        samples = await scrape(ottoscaler.metrics_port)
        return sum(value(samples, "ottoscaler_workers", phase=p) for p in PHASES) == 0

    await eventually(gone, within=30)


async def test_pool_workers_start_latency_is_counted_by_runtime(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub
) -> None:
    task = new_task()
    # Two workers, each pending 0.3 s after its creation before it runs.
    await stub.ScaleUp(scale_request(task, 2, mock_pending="0.3", mock_duration="60"))

    async def started() -> Samples | None:
        samples = await scrape(ottoscaler.metrics_port)
        counted = value(samples, "ottoscaler_worker_start_seconds_count", runtime="mock")
        return samples if counted == 2 else None

    samples = await eventually(started, within=30)
    assert samples is not None
    assert value(samples, "ottoscaler_worker_start_seconds_sum", runtime="mock") >= 0.6
    await stub.ScaleDown(pb.ScaleRequest(task_id=task, worker_count=0))


async def test_log_lines_archived_and_cut_at_the_size_limit_are_counted(
    client: Client, settings: Settings
) -> None:
    limited = settings.model_copy(update={"log_max_bytes_per_worker": 200})
    async with (
        running_ottoscaler(limited, client) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        short = [e async for e in stub.ExecutePipeline(request(stage("short", lines="3")))]
        long = [e async for e in stub.ExecutePipeline(request(stage("long", lines="1000")))]
        assert [e.status for e in (short[-1], long[-1])] == [pb.STAGE_COMPLETED] * 2
        samples = await scrape(running.metrics_port)
    archived = value(samples, "ottoscaler_log_lines_archived_total")
    cut = value(samples, "ottoscaler_log_lines_dropped_total", by="size_limit")
    # The long log keeps what fits in 200 bytes and a marker line in place of the rest.
    assert 3 < archived < 3 + 200
    assert archived + cut == 3 + 1000 + 1


async def test_the_reapers_deletions_are_counted(
    client: Client, settings: Settings, task_queue: str
) -> None:
    runtime = MockRuntime()
    stray = WorkerSpec(
        name="stray", labels={Labels.MANAGED_BY: MANAGED_BY, Labels.PIPELINE_ID: "never-started"}
    )
    await runtime.create(stray)
    async with running_ottoscaler(settings, client, runtime=runtime) as running:
        result = await client.execute_workflow(
            ReaperWorkflow.run,
            ReapInput(grace_seconds=0),
            id=f"reap-{task_queue}",
            task_queue=task_queue,
        )
        samples = await scrape(running.metrics_port)
    assert result.deleted == ("stray",)
    assert value(samples, "ottoscaler_reaper_deleted_total", kind="workers") == 1
    assert value(samples, "ottoscaler_reaper_deleted_total", kind="secrets") == 0
    assert value(samples, "ottoscaler_reaper_sweeps_failed_total") == 0


async def last(stream: Any) -> pb.PipelineProgress:
    """The last event of a stream already read from with read()."""
    final = None
    while (event := await stream.read()) is not aio.EOF:
        final = event
    assert isinstance(final, pb.PipelineProgress)
    return final


async def test_a_pipeline_run_counts_once_however_many_streams_and_replicas_follow_it(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    """Streams that re-attach (ExecutePipeline again, on this replica or another, and
    WatchPipeline) and a RetryPipeline: two runs, counted once each, summed over replicas."""
    replicas: list[Running] = []
    stubs: list[pb_grpc.OttoscalerServiceAsyncStub] = []
    async with contextlib.AsyncExitStack() as stack:
        for name in ("a", "b"):
            replica = settings.model_copy(
                update={
                    "ottoscaler_data_dir": tmp_path / name,
                    "ottoscaler_signing_key": SecretStr("replicas-share-this-key"),
                }
            )
            # As replicas in their own pods: a client, and the identity its worker has, each.
            own = await Client.connect(
                client.service_client.config.target_host,
                data_converter=client.data_converter,
                identity=f"replica-{name}",
            )
            running = await stack.enter_async_context(running_ottoscaler(replica, own))
            channel = await stack.enter_async_context(
                aio.insecure_channel(f"127.0.0.1:{running.grpc_port}")
            )
            replicas.append(running)
            stubs.append(pb_grpc.OttoscalerServiceStub(channel))
        a, b = stubs
        req = request(stage("long", duration="600"))
        ref = pb.PipelineRef(pipeline_id=req.pipeline_id)
        streams: list[Any] = [a.ExecutePipeline(req)]
        await streams[0].read()  # started
        # Attached: each ExecutePipeline follows the run from its start, as the first does.
        attached: list[Any] = [b.ExecutePipeline(req), a.ExecutePipeline(req), b.WatchPipeline(ref)]
        for follower in attached:
            await follower.read()
        streams.extend(attached)
        cancel = pb.CancelPipelineRequest(pipeline_id=req.pipeline_id, reason="test")
        assert (await a.CancelPipeline(cancel)).accepted
        for stream in streams:
            assert (await last(stream)).status == pb.STAGE_CANCELLED
        retried = b.RetryPipeline(pb.RetryPipelineRequest(pipeline_id=req.pipeline_id))
        await retried.read()
        again = a.WatchPipeline(ref)
        await again.read()
        assert (await b.CancelPipeline(cancel)).accepted
        for stream in (retried, again):
            assert (await last(stream)).status == pb.STAGE_CANCELLED

        async def totals() -> tuple[float, float] | None:
            started = ended = 0.0
            for running in replicas:
                samples = await scrape(running.metrics_port)
                started += value(samples, "ottoscaler_pipelines_started_total")
                ended += value(samples, "ottoscaler_pipelines_ended_total", status="CANCELLED")
            return (started, ended) if ended >= 2 else None

        assert await eventually(totals, within=30) == (2, 2)
