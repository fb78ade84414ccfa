"""OttoscalerService's pipeline RPCs: a thin adapter from proto to PipelineWorkflow.

One workflow id per pipeline (`pipeline-<pipeline_id>`): a running pipeline is attached
to, never started twice; a pipeline whose last run closed starts a new run.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import TypedSearchAttributes, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.admission import SpecSigner
from activities.runtimes.mock.runtime import check_mock_config
from activities.secrets.files import FileSecretStore
from activities.secrets.store import SecretStore
from gateway.errors import FailedPrecondition, NotFound
from gateway.pipelines.approvals import answer_from_wire, approve_stage
from gateway.pipelines.listing import list_pipelines
from gateway.pipelines.patience import Patience, reattach_hint
from gateway.pipelines.secrets import secret_values, store_secrets, with_secret_names
from gateway.pipelines.stream import PipelineHandle, follow, snapshot_page
from gateway.pipelines.wire import (
    event_to_wire,
    pipeline_from_wire,
    snapshot_to_wire,
    stage_to_wire,
)
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.base.checks import (
    MAX_TEXT,
    Limits,
    SpecError,
    check_label_value,
    check_short_text,
)
from workflows.pipeline import visibility
from workflows.pipeline.approval import is_approval
from workflows.pipeline.inputs import PipelineInput
from workflows.pipeline.models import PipelineSpec, ProgressEvent, StageStatus
from workflows.pipeline.secrets import SECRET_STORE_MEMO
from workflows.pipeline.validation import validate_pipeline
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id

log = logging.getLogger(__name__)


class PipelineService:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        signer: SpecSigner,
        secrets: SecretStore | None = None,
    ) -> None:
        """secrets: the runtime's store (a memory-only one when none is given)."""
        self.client = client
        self.settings = settings
        self.signer = signer
        self.secrets = secrets or FileSecretStore()
        self.limits = Limits(max_workers_per_stage=settings.max_workers_per_task)
        self.patience = Patience(
            query_timeout=timedelta(seconds=settings.progress_query_timeout_seconds),
            retry_seconds=settings.stream_retry_seconds,
        )
        self._warned_about_attributes = False

    def validate(self, spec: PipelineSpec) -> None:
        validate_pipeline(spec, self.limits)
        runtime = self.settings.ottoscaler_runtime
        for index, stage in enumerate(spec.stages):
            if runtime is RuntimeKind.LOCAL and not stage.command and not is_approval(stage):
                raise SpecError(f"stages[{index}].command", "is required on the local runtime")
            if runtime is RuntimeKind.MOCK:
                try:
                    check_mock_config(stage.config)
                except ValueError as err:
                    raise SpecError(f"stages[{index}].config", str(err)) from err

    async def execute(self, request: pb.PipelineRequest) -> AsyncIterator[pb.PipelineProgress]:
        values = secret_values(request, self.limits)
        spec = with_secret_names(pipeline_from_wire(request), request)
        self.validate(spec)
        with reattach_hint(spec.pipeline_id):
            # Idempotent: a pipeline that started at an earlier try is attached to.
            handle = await self.patience.retried(
                lambda: self._start_with_secrets(spec, values), "starting a pipeline"
            )
            async for event in follow(handle, 0, self.patience):
                yield event_to_wire(spec.pipeline_id, event)

    async def get(self, request: pb.PipelineRef) -> pb.PipelineSnapshot:
        handle = await self._existing(request.pipeline_id)
        page = await snapshot_page(handle, self.patience.query_timeout)
        return snapshot_to_wire(page.snapshot, handle.run_id or "", datetime.now(UTC))

    async def watch(self, request: pb.PipelineRef) -> AsyncIterator[pb.PipelineProgress]:
        """The snapshot first (the pipeline, then each stage), then live transitions."""
        handle = await self._existing(request.pipeline_id)
        with reattach_hint(request.pipeline_id):
            async for event in self._watch(handle):
                yield event

    async def _watch(self, handle: PipelineHandle) -> AsyncIterator[pb.PipelineProgress]:
        snap = (
            await self.patience.retried(
                lambda: snapshot_page(handle, self.patience.query_timeout), "the progress query"
            )
        ).snapshot
        now = datetime.now(UTC)
        yield event_to_wire(
            snap.pipeline_id,
            ProgressEvent(
                version=snap.version,
                timestamp=now,
                status=snap.status,
                message=f"snapshot: {snap.progress_percentage}% of stages finished",
                progress_percentage=snap.progress_percentage,
                started_at=snap.started_at,
                completed_at=snap.completed_at,
                error_message=snap.error_message,
            ),
        )
        for stage in snap.stages:
            yield stage_to_wire(snap.pipeline_id, stage, snap.version, now)
        if snap.status.finished:
            return
        async for event in follow(handle, snap.version, self.patience):
            yield event_to_wire(snap.pipeline_id, event)

    async def cancel(self, request: pb.CancelPipelineRequest) -> pb.CancelPipelineResponse:
        check_short_text("reason", request.reason, MAX_TEXT["reason"])
        handle, status = await self._latest(request.pipeline_id)
        if status is not WorkflowExecutionStatus.RUNNING:
            state = status.name.lower() if status else "closed"
            return pb.CancelPipelineResponse(
                accepted=False, message=f"pipeline {request.pipeline_id} is already {state}"
            )
        await handle.cancel(reason=request.reason or "requested by CancelPipeline")
        return pb.CancelPipelineResponse(
            accepted=True,
            message=f"pipeline {request.pipeline_id}: cancelling, its workers are being deleted",
        )

    async def retry(self, request: pb.RetryPipelineRequest) -> AsyncIterator[pb.PipelineProgress]:
        """A new run that reuses the stages the last run completed."""
        check_short_text("triggered_by", request.triggered_by, MAX_TEXT["triggered_by"])
        handle, status = await self._latest(request.pipeline_id)
        if status is WorkflowExecutionStatus.RUNNING:
            raise FailedPrecondition(
                f"pipeline_id: pipeline {request.pipeline_id} is still running; "
                "watch it with WatchPipeline or cancel it first"
            )
        last = await handle.query(PipelineWorkflow.input)
        if last.spec.secret_store:
            raise FailedPrecondition(
                f"pipeline_id: pipeline {request.pipeline_id} ran with secrets, which are "
                "deleted when a run ends; run it again with ExecutePipeline and its secrets"
            )
        snap = (await snapshot_page(handle)).snapshot
        if snap.status is StageStatus.COMPLETED:
            raise FailedPrecondition(
                f"pipeline_id: pipeline {request.pipeline_id} completed; nothing to retry"
            )
        if self.signer.signed_pipeline(last.spec) != last.spec:
            raise FailedPrecondition(
                f"pipeline_id: pipeline {request.pipeline_id} was not started through this "
                "Ottoscaler's gateway (or with another signing key); start it with "
                "ExecutePipeline"
            )
        completed = [s for s in snap.stages if s.status is StageStatus.COMPLETED]
        reuse = tuple(s.stage_id for s in completed)
        outputs = {s.stage_id: s.outputs for s in completed if s.outputs}
        spec = last.spec.model_copy(
            update={"triggered_by": request.triggered_by or last.spec.triggered_by}
        )
        self.validate(spec)
        new_run = await self._start(
            PipelineInput(
                spec=spec, limits=self.limits, reuse_completed=reuse, reused_outputs=outputs
            )
        )
        with reattach_hint(spec.pipeline_id):
            async for event in follow(new_run, 0, self.patience):
                yield event_to_wire(spec.pipeline_id, event)

    async def approve(self, request: pb.ApproveStageRequest) -> pb.ApproveStageResponse:
        answer = answer_from_wire(request)
        handle, status = await self._latest(request.pipeline_id)
        return await approve_stage(handle, status, request.pipeline_id, answer)

    async def list_runs(self, request: pb.ListPipelinesRequest) -> pb.ListPipelinesResponse:
        return await list_pipelines(self.client, self.settings.temporal_task_queue, request)

    async def _existing(self, pipeline_id: str) -> PipelineHandle:
        """The latest run of a pipeline, or NOT_FOUND naming the id."""
        handle, _ = await self._latest(pipeline_id)
        return handle

    async def _latest(
        self, pipeline_id: str
    ) -> tuple[PipelineHandle, WorkflowExecutionStatus | None]:
        """The latest run of a pipeline and its status (None: closed, kind unknown), from
        one describe; or NOT_FOUND naming the id."""
        check_label_value("pipeline_id", pipeline_id)
        handle = self.client.get_workflow_handle_for(
            PipelineWorkflow.run, pipeline_workflow_id(pipeline_id)
        )
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise NotFound(f"pipeline_id: no pipeline {pipeline_id!r}") from err
            raise
        latest = self.client.get_workflow_handle_for(
            PipelineWorkflow.run, description.id, run_id=description.run_id
        )
        return latest, description.status

    async def _start_with_secrets(
        self, spec: PipelineSpec, values: dict[str, str]
    ) -> PipelineHandle:
        """Stores the run's secrets, then starts it; a start that attached to a running
        run, or failed, deletes them again: that run has secrets of its own."""
        if not spec.secret_store:
            return await self._start(PipelineInput(spec=spec, limits=self.limits))
        await store_secrets(self.secrets, spec, values)
        try:
            handle = await self._start(PipelineInput(spec=spec, limits=self.limits))
            memo = await (await handle.describe()).memo_value(SECRET_STORE_MEMO, "")
        except BaseException:
            await self.secrets.delete(spec.secret_store)
            raise
        if memo != spec.secret_store:
            await self.secrets.delete(spec.secret_store)
        return handle

    async def _start(self, inp: PipelineInput) -> PipelineHandle:
        """Starts with the Otto* search attributes; where Temporal refuses them, this
        pipeline starts without (the next one tries again). Signs each stage: the
        workers create only what the gateway signed."""
        inp = inp.model_copy(update={"spec": self.signer.signed_pipeline(inp.spec)})
        try:
            return await self._start_workflow(inp, visibility.initial_attributes(inp.spec))
        except RPCError as err:
            if err.status is not RPCStatusCode.INVALID_ARGUMENT:
                raise
            if not self._warned_about_attributes:
                log.warning(
                    "Temporal refused the Otto* search attributes (%s); pipelines it refuses "
                    "them for start without. Register them as docs/deploy.md shows.",
                    err.message,
                )
                self._warned_about_attributes = True
        return await self._start_workflow(inp, None)

    async def _start_workflow(
        self, inp: PipelineInput, search_attributes: TypedSearchAttributes | None
    ) -> PipelineHandle:
        """A handle bound to the run started (or attached to): the SDK's own follows
        whatever run is newest, and a stream must never move on to a newer run."""
        spec = inp.spec
        started = await self.client.start_workflow(
            PipelineWorkflow.run,
            inp,
            id=pipeline_workflow_id(spec.pipeline_id),
            task_queue=self.settings.temporal_task_queue,
            # A running pipeline is attached to, never started twice.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"{spec.name} · {spec.repository}@{spec.commit_sha[:12]}",
            search_attributes=search_attributes,
            memo={SECRET_STORE_MEMO: spec.secret_store} if spec.secret_store else None,
        )
        return self.client.get_workflow_handle_for(
            PipelineWorkflow.run, started.id, run_id=started.result_run_id
        )
