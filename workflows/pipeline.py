"""PipelineWorkflow: validates the spec, then runs each stage as soon as its own
dependencies have completed (a true DAG, not level by level).

Each stage is a StageWorkflow child. A failed stage marks everything downstream of it
SKIPPED while independent branches run on. The `progress` query returns the snapshot and
the transitions after a given version; no progress travels through history.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.dag import downstream, ready_stages
    from workflows.inputs import PipelineInput, StageInput, StageReport, StageResult
    from workflows.models import (
        PipelineSnapshot,
        ProgressPage,
        StageState,
        StageStatus,
    )
    from workflows.progress import PipelineProgress
    from workflows.stage import STAGE_REPORT_SIGNAL, StageWorkflow
    from workflows.validation import SpecError, validate_pipeline

PROGRESS_QUERY = "progress"


@workflow.defn
class PipelineWorkflow:
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        spec = inp.spec
        self._progress = PipelineProgress(
            spec.pipeline_id,
            [StageState(stage_id=s.stage_id, max_attempts=s.attempts_allowed) for s in spec.stages],
        )

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self, after_version: int) -> ProgressPage:
        return self._progress.page(after_version)

    @workflow.signal(name=STAGE_REPORT_SIGNAL)
    def stage_report(self, report: StageReport) -> None:
        if self._progress.stages[report.stage_id].status.finished:
            return  # a late report must not reopen a finished stage
        self._progress.update_stage(
            workflow.now(),
            report.stage_id,
            status=report.status,
            attempt=report.attempt,
            max_attempts=report.max_attempts,
            worker_pod_names=report.worker_pod_names,
            message=report.message,
            error_message=report.error_message,
        )

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineSnapshot:
        spec = inp.spec
        try:
            validate_pipeline(spec, inp.limits)
        except SpecError as err:
            raise ApplicationError(str(err), type="InvalidPipeline", non_retryable=True) from err
        progress = self._progress
        progress.update_pipeline(
            workflow.now(), StageStatus.RUNNING, f"pipeline started: {len(spec.stages)} stages"
        )
        for stage_id in inp.reuse_completed:
            if stage_id in progress.stages:
                progress.update_stage(
                    workflow.now(),
                    stage_id,
                    status=StageStatus.COMPLETED,
                    message="reused from the previous run",
                )
        graph = {s.stage_id: s.depends_on for s in spec.stages}
        specs = {s.stage_id: s for s in spec.stages}
        running: dict[str, asyncio.Task[StageResult]] = {}
        while True:
            for stage_id in ready_stages(graph, progress.stage_status()):
                progress.update_stage(
                    workflow.now(), stage_id, status=StageStatus.RUNNING, message="starting"
                )
                running[stage_id] = asyncio.create_task(
                    self._run_stage(
                        StageInput(
                            pipeline_id=spec.pipeline_id,
                            repository=spec.repository,
                            commit_sha=spec.commit_sha,
                            run=workflow.info().run_id,
                            stage=specs[stage_id],
                        )
                    )
                )
            if not running:
                break
            await workflow.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for stage_id in [sid for sid, task in running.items() if task.done()]:
                self._finish_stage(graph, stage_id, running.pop(stage_id).result())
        return self._finish_pipeline()

    async def _run_stage(self, inp: StageInput) -> StageResult:
        return await workflow.execute_child_workflow(
            StageWorkflow.run,
            inp,
            id=f"{workflow.info().workflow_id}/{inp.stage.stage_id}/{inp.run[:8]}",
            parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
            static_summary=f"stage {inp.stage.stage_id} ({inp.stage.type})",
        )

    def _finish_stage(
        self, graph: dict[str, tuple[str, ...]], stage_id: str, result: StageResult
    ) -> None:
        now = workflow.now()
        self._progress.update_stage(
            now,
            stage_id,
            status=result.status,
            attempt=result.attempt,
            worker_pod_names=result.worker_pod_names,
            message=result.message,
            error_message=result.error_message,
            metrics=result.metrics,
        )
        if result.status is StageStatus.FAILED:
            if not self._progress.error_message:
                self._progress.error_message = f"stage {stage_id}: {result.error_message}"
            for skipped in downstream(graph, stage_id):
                if self._progress.stages[skipped].status is StageStatus.PENDING:
                    self._progress.update_stage(
                        now,
                        skipped,
                        status=StageStatus.SKIPPED,
                        message=f"skipped: upstream stage {stage_id} failed",
                    )

    def _finish_pipeline(self) -> PipelineSnapshot:
        progress = self._progress
        statuses = progress.stage_status().values()
        failed = StageStatus.FAILED in statuses
        status = StageStatus.FAILED if failed else StageStatus.COMPLETED
        done = sum(1 for s in statuses if s is StageStatus.COMPLETED)
        progress.update_pipeline(
            workflow.now(),
            status,
            f"pipeline {status.value.lower()}: {done}/{len(progress.stages)} stages completed",
        )
        return progress.snapshot()
