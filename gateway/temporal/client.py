"""The Temporal client: one data converter (pydantic, with the payload codec when a key
is set) for every call, and the workflows that Ottoscaler's workers run and replay."""

from __future__ import annotations

from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import PayloadCodec
from temporalio.runtime import Runtime

from gateway.temporal.codec import data_converter
from workflows.pipeline.stage import StageWorkflow
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.pool.workflow import WorkerPoolWorkflow
from workflows.reaper.workflow import ReaperWorkflow

WORKFLOWS = [PipelineWorkflow, StageWorkflow, WorkerPoolWorkflow, ReaperWorkflow]


async def connect(
    address: str,
    namespace: str,
    codec: PayloadCodec | None = None,
    runtime: Runtime | None = None,
    tracer: Tracer | None = None,
) -> Client:
    """runtime: the SDK runtime whose telemetry the client and its workers report to;
    None: the SDK's default, which exports nothing. tracer: where the spans of the
    client's calls, and of its workers' workflows and activities, go; None: no spans."""
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=data_converter(codec),
        runtime=runtime,
        interceptors=[TracingInterceptor(tracer)] if tracer is not None else [],
    )
