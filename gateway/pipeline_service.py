"""OttoscalerService's pipeline RPCs: a thin adapter from proto to PipelineWorkflow."""

from __future__ import annotations

from collections.abc import AsyncIterator

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from gateway.progress_stream import follow
from gateway.settings import RuntimeKind, Settings
from gateway.translate import event_to_wire, pipeline_from_wire
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.inputs import PipelineInput
from workflows.models import PipelineSpec
from workflows.pipeline import PipelineWorkflow
from workflows.validation import Limits, SpecError, validate_pipeline


def pipeline_workflow_id(pipeline_id: str) -> str:
    return f"pipeline-{pipeline_id}"


class PipelineService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.limits = Limits(max_workers_per_stage=settings.max_workers_per_task)

    def validate(self, spec: PipelineSpec) -> None:
        validate_pipeline(spec, self.limits)
        if self.settings.ottoscaler_runtime is RuntimeKind.LOCAL:
            for index, stage in enumerate(spec.stages):
                if not stage.command:
                    raise SpecError(f"stages[{index}].command", "is required on the local runtime")

    async def execute(self, request: pb.PipelineRequest) -> AsyncIterator[pb.PipelineProgress]:
        spec = pipeline_from_wire(request)
        self.validate(spec)
        handle = await self.client.start_workflow(
            PipelineWorkflow.run,
            PipelineInput(spec=spec, limits=self.limits),
            id=pipeline_workflow_id(spec.pipeline_id),
            task_queue=self.settings.temporal_task_queue,
            # A running pipeline is attached to, never started twice.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"{spec.name} · {spec.repository}@{spec.commit_sha[:12]}",
        )
        async for event in follow(handle, 0, self.settings.progress_poll_seconds):
            yield event_to_wire(spec.pipeline_id, event)

    async def get(self, request: pb.PipelineRef) -> pb.PipelineSnapshot:
        raise NotImplementedError("GetPipeline is not implemented yet (issue 3)")

    def watch(self, request: pb.PipelineRef) -> AsyncIterator[pb.PipelineProgress]:
        raise NotImplementedError("WatchPipeline is not implemented yet (issue 3)")

    async def cancel(self, request: pb.CancelPipelineRequest) -> pb.CancelPipelineResponse:
        raise NotImplementedError("CancelPipeline is not implemented yet (issue 3)")

    def retry(self, request: pb.RetryPipelineRequest) -> AsyncIterator[pb.PipelineProgress]:
        raise NotImplementedError("RetryPipeline is not implemented yet (issue 3)")
