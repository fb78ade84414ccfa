"""OpenTelemetry: one pipeline is one trace, continuing the caller's, from the gRPC call
through the Temporal client and the workflow to each activity (the SDK's in-memory
exporter)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path

from grpc import aio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from gateway.app import running_ottoscaler
from gateway.reaper.schedule import reaper_schedule_id
from gateway.server.tracing import tracer_provider
from gateway.settings import RuntimeKind, Settings
from gateway.temporal.client import connect
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.kube.fixtures import DEFAULT_IMAGE, NAMESPACE, TEST_TUNING, KubeCluster
from tests.logs.otto_handler import FakeOttoHandler, serving
from tests.tracing import in_memory_tracer
from tests.waiting import eventually
from workflows.workers.spec import WorkerSpec

SERVICE = "ottoscaler.v1.OttoscalerService"
HANDLER = "ottoscaler.v1.OttoHandlerLogService"


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    found: int = span.context.span_id
    return found


async def traced_client(env: WorkflowEnvironment, tracer: Tracer) -> Client:
    return await connect(env.client.service_client.config.target_host, "default", tracer=tracer)


def the_calls_trace(
    spans: Sequence[ReadableSpan], trace_id: str, caller: str
) -> tuple[list[ReadableSpan], ReadableSpan, ReadableSpan]:
    """The spans of the caller's trace, its ExecutePipeline span (the caller's child) and
    the workflow's start (that span's child)."""
    ours = [s for s in spans if s.context is not None and s.context.trace_id == int(trace_id, 16)]
    [rpc] = named(ours, f"{SERVICE}/ExecutePipeline")
    assert parent_of(rpc) == int(caller, 16)
    [start] = named(ours, "StartWorkflow:PipelineWorkflow")
    assert parent_of(start) == span_id(rpc)
    return ours, rpc, start


async def test_a_pipeline_is_one_trace_under_the_callers_span(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    exported, tracer = in_memory_tracer()
    client = await traced_client(temporal_env, tracer)
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{caller}-01"
    async with (
        running_ottoscaler(settings, client, tracer=tracer) as running,
        aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
    ):
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        call = stub.ExecutePipeline(
            request(stage("a"), stage("b", "a")), metadata=(("traceparent", traceparent),)
        )
        events = [e async for e in call]
        assert events[-1].status == pb.STAGE_COMPLETED
    spans = [s for s in exported.get_finished_spans() if s.context is not None]
    ours, rpc, start = the_calls_trace(spans, trace_id, caller)
    [run] = named(ours, "RunWorkflow:PipelineWorkflow")
    assert parent_of(run) == span_id(start)
    [done] = named(ours, "CompleteWorkflow:PipelineWorkflow")
    # The workflow's own spans hang from the start that made it (Temporal's model).
    assert parent_of(done) == span_id(start)
    scheduled = named(ours, "StartActivity:run_worker")
    assert len(scheduled) == 2
    assert {parent_of(s) for s in scheduled} == {span_id(start)}
    ran = named(ours, "RunActivity:run_worker")
    assert sorted(parent_of(s) or 0 for s in ran) == sorted(span_id(s) for s in scheduled)
    # The stream's progress queries are the call's too.
    queries = named(ours, "QueryWorkflow:progress")
    assert queries
    assert {parent_of(q) for q in queries} == {span_id(rpc)}
    assert len(ours) == len(spans)  # nothing outside the caller's trace


def test_no_endpoint_no_tracing(settings: Settings) -> None:
    assert tracer_provider(settings) is None
    with_endpoint = settings.model_copy(
        update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:4318"}
    )
    provider = tracer_provider(with_endpoint)
    assert provider is not None
    provider.shutdown()


async def test_a_kubernetes_pipeline_traces_its_api_calls_and_log_streams(
    temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, kube_cluster: KubeCluster
) -> None:
    exported, tracer = in_memory_tracer()
    client = await traced_client(temporal_env, tracer)
    runtime = KubernetesRuntime(
        NAMESPACE, DEFAULT_IMAGE, kube_cluster.api, tuning=TEST_TUNING, tracer=tracer
    )
    handler = FakeOttoHandler()
    trace_id, caller = secrets.token_hex(16), secrets.token_hex(8)
    request = pb.PipelineRequest(
        pipeline_id=f"trace-{secrets.token_hex(4)}",
        stages=[pb.PipelineStage(stage_id="build", config={"FAKE_LINES": "2"})],
    )
    try:
        async with serving(handler) as otto_handler_addr:
            settings = Settings(
                grpc_host="127.0.0.1",
                grpc_port=0,
                temporal_task_queue=task_queue,
                ottoscaler_runtime=RuntimeKind.KUBERNETES,
                namespace=NAMESPACE,
                ottoscaler_data_dir=tmp_path,
                otto_handler_addr=otto_handler_addr,
                log_poll_seconds=0.05,
            )
            async with (
                running_ottoscaler(settings, client, runtime, tracer=tracer) as running,
                aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel,
            ):
                stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
                call = stub.ExecutePipeline(
                    request, metadata=(("traceparent", f"00-{trace_id}-{caller}-01"),)
                )
                events = [e async for e in call]
                assert events[-1].status == pb.STAGE_COMPLETED

                async def forwarded() -> bool:
                    return sum(map(len, handler.accepted.values())) >= 2

                await eventually(forwarded, within=60)
    finally:
        await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()
    spans = [s for s in exported.get_finished_spans() if s.context is not None]
    ours, _, start = the_calls_trace(spans, trace_id, caller)
    [scheduled] = named(ours, "StartActivity:run_worker")
    assert parent_of(scheduled) == span_id(start)
    [ran] = named(ours, "RunActivity:run_worker")
    assert parent_of(ran) == span_id(scheduled)
    # The worker's requests to the API server: each a span under its activity, and each
    # request carried that span's context.
    kube = [s for s in ours if s.name.startswith("kubernetes ")]
    assert {parent_of(s) for s in kube} == {span_id(ran)}
    assert {"kubernetes create pods", "kubernetes get pods/log", "kubernetes delete pods"} <= {
        s.name for s in kube
    }
    assert {"kubernetes list pods", "kubernetes watch pods"} & {s.name for s in kube}
    sent = [r.traceparent for r in kube_cluster.emulator.requests if trace_id in r.traceparent]
    assert sorted(sent) == sorted(f"00-{trace_id}-{span_id(s):016x}-01" for s in kube)
    # The log stream to otto-handler is the forwarder's own trace, one span for the stream.
    [forward] = named(spans, f"{HANDLER}/ForwardWorkerLogs")
    assert forward.parent is None
    assert forward.context is not None
    [(rpc_name, traceparent)] = handler.traceparents
    assert rpc_name == "ForwardWorkerLogs"
    assert traceparent.split("-")[1:3] == [
        f"{forward.context.trace_id:032x}",
        f"{span_id(forward):016x}",
    ]
    # Outside the call's trace: the stream and the watches that run outside any activity.
    others = [s for s in spans if s not in ours]
    assert {s.name for s in others} <= {
        forward.name,
        "kubernetes list pods",
        "kubernetes watch pods",
    }
    assert all(s.parent is None for s in others)


async def test_without_a_tracer_kubernetes_requests_carry_no_trace(
    kube_runtime: KubernetesRuntime, kube_cluster: KubeCluster
) -> None:
    spec = WorkerSpec(name="untraced", env={"FAKE_DURATION": "0"})
    await kube_runtime.create(spec)
    await kube_runtime.wait(spec)
    await kube_runtime.delete(spec.name)
    requests = kube_cluster.emulator.requests
    assert {r.method for r in requests} >= {"POST", "GET", "DELETE"}
    assert all(r.traceparent == "" for r in requests)
