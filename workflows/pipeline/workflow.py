"""PipelineWorkflow: validates the spec, then runs each stage as soon as its own
dependencies have completed (a true DAG, not level by level).

Stages run inside this workflow's history, one run_worker activity per shard attempt;
only a pipeline too large for one history moves its largest stages into StageWorkflow
children (placement.py). A failed stage marks everything downstream of it SKIPPED while
independent branches run on, unless the pipeline's metadata says `fail_fast=true`: then
running stages are cancelled. A failed pipeline ends its workflow failed, carrying its
result (outcome.py), so every Temporal tool shows it failed. Cancelling the pipeline
cancels every running stage (each deletes its workers) and ends every other stage
CANCELLED; so does the pipeline's deadline (`timeout_seconds`, a durable timer), which
then fails the pipeline with DeadlineExceeded. A stage whose `when` is false is SKIPPED,
and so are its dependents without a `when` of their own; these skips do not fail the
pipeline (conditions.py). Cleanup stages run after every other stage has ended, also
after a cancel or the deadline (cleanup.py). An approval stage waits for the
`approve_stage` Update (approval.py). The `progress` query returns
the snapshot and the transitions after a given version; the gateway asks it only when
the history shows that a workflow task completed.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError

from workflows.base.checks import SpecError
from workflows.pipeline import visibility
from workflows.pipeline.approval import (
    APPROVAL_STAGES_PATCH,
    APPROVE_UPDATE,
    ApprovalAnswer,
    ApprovalDesk,
    ApprovalReceipt,
    is_approval,
    waiting_message,
)
from workflows.pipeline.cleanup import outcome_so_far, split_graph
from workflows.pipeline.conditions import ConditionError, evaluate
from workflows.pipeline.dag import Graph, downstream, ready_stages
from workflows.pipeline.inputs import PipelineInput, StageInput, StageReport, StageResult
from workflows.pipeline.models import (
    ProgressPage,
    StageMetrics,
    StageSpec,
    StageState,
    StageStatus,
)
from workflows.pipeline.outcome import (
    STAGE_FAILED,
    carried,
    fails_when_failed,
    pipeline_failed,
)
from workflows.pipeline.outputs import OutputsConflict, check_pipeline_total, outputs_env
from workflows.pipeline.placement import child_stages
from workflows.pipeline.progress import PipelineProgress
from workflows.pipeline.secrets import stage_secret_refs
from workflows.pipeline.shards import StageContext
from workflows.pipeline.stage import STAGE_REPORT_SIGNAL, StageWorkflow, run_stage
from workflows.pipeline.validation import validate_pipeline
from workflows.workers import calls as worker_calls
from workflows.workers.naming import stage_workflow_id
from workflows.workers.room import ROOM_SIGNAL, RoomReport

# The transitions a finished pipeline returns with its snapshot (at most a page's bytes):
# enough for a stream to end without querying the closed run, which a worker would have
# to replay to answer.
FINAL_EVENTS = 100
PROGRESS_QUERY = "progress"
INPUT_QUERY = "input"
FAIL_FAST_KEY = "fail_fast"


# Outside the SDK's sandbox, which made a 20-stage pipeline's workflow take 178 ms
# instead of 140 (bench/cost.py); determinism is kept by ruff's banned-api rules for
# workflows/, import-linter's contracts and the replay tests.
@workflow.defn(sandboxed=False)
class PipelineWorkflow:
    @workflow.init
    def __init__(self, inp: PipelineInput) -> None:
        self._input = inp
        self._progress = PipelineProgress(
            inp.spec.pipeline_id,
            [
                StageState(stage_id=s.stage_id, max_attempts=s.attempts_allowed)
                for s in inp.spec.stages
            ],
        )
        self._specs = {s.stage_id: s for s in inp.spec.stages}
        self._graph, self._cleanup_graph = split_graph(inp.spec.stages)
        self._approvals = ApprovalDesk(self._specs)
        # What `when` and cleanup stages see as pipeline.status.
        self._pipeline_status = StageStatus.RUNNING
        # The reason of a cancel that came while cleanup ran (None: none came).
        self._cancelled_in_cleanup: str | None = None
        self._matrices = {s.stage_id: s.matrix for s in inp.spec.stages if s.matrix}
        # Every stage's dependencies, cleanup stages' included: whose outputs a stage sees.
        self._dependencies: Graph = {s.stage_id: s.depends_on for s in inp.spec.stages}
        self._children = child_stages(inp.spec.stages)
        self._running: dict[str, asyncio.Task[StageResult]] = {}
        # Stages SKIPPED by a false `when` (or after one): they do not fail the pipeline.
        self._skipped_by_condition: set[str] = set()
        self._deadline_passed = False
        self._stages_shown = True
        # Referenced so that it lives as long as the pipeline; it never ends on its own.
        self._table_task: asyncio.Task[None] | None = None

    @workflow.query(name=PROGRESS_QUERY)
    def progress(self, after_version: int) -> ProgressPage:
        return self._progress.page(after_version)

    @workflow.query(name=INPUT_QUERY)
    def input(self) -> PipelineInput:
        return self._input

    @workflow.update(name=APPROVE_UPDATE)
    def approve_stage(self, answer: ApprovalAnswer) -> ApprovalReceipt:
        """An approval stage's answer: ApproveStage, or `temporal workflow update`."""
        return self._approvals.answer(answer)

    @approve_stage.validator
    def check_approval(self, answer: ApprovalAnswer) -> None:
        state = self._progress.stages.get(answer.stage_id)
        self._approvals.check(answer, state.status if state else None)

    @workflow.signal(name=STAGE_REPORT_SIGNAL)
    async def stage_report(self, report: StageReport) -> None:
        """A child stage's report (inline stages call the methods below directly)."""
        if self._progress.stages[report.stage_id].status.finished:
            return  # a late report must not reopen a finished stage
        if report.status is StageStatus.RETRYING:
            await self.retry_scheduled(
                report.stage_id, report.attempt, report.attempt + 1, report.error_message
            )
        else:
            await self.attempt_started(report.stage_id, report.attempt, report.worker_pod_names)

    @workflow.signal(name=ROOM_SIGNAL)
    def room_report(self, report: RoomReport) -> None:
        """Workers waiting for room under MAX_WORKERS, from run_worker's process (or
        forwarded by a child stage)."""
        if self._progress.room_reported(workflow.now(), report):
            self._show_stages()

    # The StageReporter of every stage: what its progress shows.

    async def attempt_started(
        self, stage_id: str, attempt: int, worker_pod_names: tuple[str, ...]
    ) -> None:
        self._progress.attempt_started(workflow.now(), stage_id, attempt, worker_pod_names)
        self._show_stages()

    async def retry_scheduled(
        self, stage_id: str, attempt: int, next_attempt: int, error: str
    ) -> None:
        delay = self._specs[stage_id].retry.retry_delay_seconds
        self._progress.retry_scheduled(workflow.now(), stage_id, next_attempt, delay, error)
        self._show_stages()

    @workflow.run
    async def run(self, inp: PipelineInput) -> ProgressPage:
        spec = inp.spec
        approvals = any(is_approval(s) for s in spec.stages) and self._approval_stages()
        try:
            validate_pipeline(spec, inp.limits, approvals)
        except SpecError as err:
            raise ApplicationError(str(err), type="InvalidPipeline", non_retryable=True) from err
        self._table_task = asyncio.create_task(self._show_stages_when_changed())
        self._update_pipeline(StageStatus.RUNNING, f"pipeline started: {len(spec.stages)} stages")
        for stage_id in inp.reuse_completed:
            # Cleanup runs again in every run.
            if stage_id in self._graph:
                outputs = inp.reused_outputs.get(stage_id, {})
                self._progress.stage_reused(workflow.now(), stage_id, outputs)
                self._show_stages()
        graph = self._graph
        deadline = self._start_deadline(spec.timeout_seconds)
        try:
            await self._run_dag(graph, deadline)
        except asyncio.CancelledError:
            if deadline is not None:
                deadline.cancel()
            # `temporal workflow cancel` sends no reason: just "cancelled" then.
            reason = workflow.cancellation_reason()
            because = f": {reason}" if reason else ""
            await self._cancel_unfinished(f"cancelled{because}")
            await self._run_cleanup(StageStatus.CANCELLED)
            self._update_pipeline(StageStatus.CANCELLED, f"pipeline cancelled{because}")
            await self._forget_secrets()
            raise
        if deadline is not None and not deadline.done():
            deadline.cancel()
        statuses = self._progress.stage_status()
        await self._run_cleanup(
            outcome_so_far(statuses, graph, self._skipped_by_condition, self._deadline_passed)
        )
        if self._cancelled_in_cleanup is not None:
            reason = self._cancelled_in_cleanup
            because = f": {reason}" if reason else ""
            self._update_pipeline(
                StageStatus.CANCELLED, f"pipeline cancelled while its cleanup ran{because}"
            )
            await self._forget_secrets()
            raise asyncio.CancelledError(reason)
        try:
            page = self._finish_pipeline()
        except ApplicationError:  # the pipeline failed: its workflow fails too
            await self._forget_secrets()
            raise
        await self._forget_secrets()
        return page

    @staticmethod
    def _approval_stages() -> bool:
        """False replaying a run from before approval stages, which ran workers."""
        return workflow.patched(APPROVAL_STAGES_PATCH)

    async def _forget_secrets(self) -> None:
        """The values are gone with the run (the reaper backs this up). Not in a `finally`:
        when a worker evicts the workflow it closes this coroutine (GeneratorExit), and no
        activity may be scheduled then."""
        store = self._input.spec.secret_store
        if store:
            await worker_calls.delete_secrets(store)

    def _start_deadline(self, seconds: int) -> asyncio.Task[None] | None:
        """The pipeline's deadline: a timer the Web UI shows by its summary."""
        if not seconds:
            return None
        return asyncio.create_task(
            workflow.sleep(timedelta(seconds=seconds), summary=f"pipeline deadline · {seconds}s")
        )

    async def _run_dag(self, graph: Graph, deadline: asyncio.Task[None] | None) -> None:
        running = self._running
        while True:
            self._start_ready(graph)
            if not running:
                return
            waiting: list[asyncio.Task[object]] = [*running.values()]
            if deadline is not None:
                waiting.append(deadline)
            await workflow.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for stage_id in [sid for sid, task in running.items() if task.done()]:
                result = running.pop(stage_id).result()
                self._finish_stage(graph, stage_id, result)
                if result.status is StageStatus.FAILED and self._fail_fast:
                    await self._cancel_unfinished(f"cancelled: fail_fast after {stage_id} failed")
                    return
            # A stage that ended as the deadline fired keeps its result; only a pipeline
            # with work left misses its deadline.
            statuses = self._progress.stage_status()
            unfinished = not all(statuses[s].finished for s in graph)
            if deadline is not None and deadline.done() and unfinished:
                await self._deadline_exceeded()
                return

    async def _run_cleanup(self, status: StageStatus) -> None:
        """Runs the cleanup stages to their ends. A cancel now does not stop them (each
        attempt has its own bound): the pipeline ends CANCELLED after them."""
        graph = self._cleanup_graph
        if not graph:
            return
        self._pipeline_status = status
        running = self._running
        while True:
            self._start_ready(graph)
            if not running:
                return
            try:
                await workflow.wait([*running.values()], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                self._cancelled_in_cleanup = workflow.cancellation_reason() or ""
                continue
            for stage_id in [sid for sid, task in running.items() if task.done()]:
                self._finish_stage(graph, stage_id, running.pop(stage_id).result())

    def _start_ready(self, graph: Graph) -> None:
        """Starts every stage whose dependencies allow it; skips those whose condition says
        so, which may make more stages ready at once."""
        while ready := ready_stages(
            graph, self._progress.stage_status(), self._skipped_by_condition
        ):
            for stage_id in ready:
                stage = self._specs[stage_id]
                if stage.when:
                    if not self._condition_holds(graph, stage):
                        continue
                else:
                    skipped = [d for d in graph[stage_id] if d in self._skipped_by_condition]
                    if skipped:
                        self._skip_by_condition(
                            stage_id, f"skipped: upstream stage {skipped[0]} was skipped"
                        )
                        continue
                self._progress.stage_scheduled(workflow.now(), stage_id)
                self._show_stages()
                self._running[stage_id] = asyncio.create_task(self._run_stage(stage))

    def _condition_holds(self, graph: Graph, stage: StageSpec) -> bool:
        """Evaluates the stage's `when`; false skips it, an error fails it."""
        statuses = self._progress.stage_status()
        try:
            holds = evaluate(
                self._input.spec, stage, statuses, self._stage_outputs(), self._pipeline_status
            )
        except ConditionError as err:
            error = f"when: {stage.when} could not be evaluated: {err}"
            self._progress.stage_ended(
                workflow.now(),
                stage.stage_id,
                StageStatus.FAILED,
                "condition failed",
                attempt=0,
                worker_pod_names=(),
                error_message=error,
                metrics=StageMetrics(),
            )
            self._skip_downstream(graph, stage.stage_id, error)
            self._show_stages()
            return False
        if not holds:
            self._skip_by_condition(stage.stage_id, f"when: {stage.when} is false")
        return holds

    def _skip_by_condition(self, stage_id: str, message: str) -> None:
        self._skipped_by_condition.add(stage_id)
        self._progress.stage_skipped(workflow.now(), stage_id, message)
        self._show_stages()

    async def _deadline_exceeded(self) -> None:
        seconds = self._input.spec.timeout_seconds
        self._deadline_passed = True
        self._progress.error_message = f"DeadlineExceeded: the pipeline ran past {seconds}s"
        await self._cancel_unfinished(f"cancelled: DeadlineExceeded after {seconds}s")

    @property
    def _fail_fast(self) -> bool:
        return self._input.spec.metadata.get(FAIL_FAST_KEY, "").lower() == "true"

    def _stage_outputs(self) -> dict[str, dict[str, str]]:
        return {sid: s.outputs for sid, s in self._progress.stages.items() if s.outputs}

    async def _run_stage(self, stage: StageSpec) -> StageResult:
        if is_approval(stage) and self._approval_stages():
            self._progress.approval_waiting(workflow.now(), stage.stage_id, waiting_message(stage))
            self._show_stages()
            return await self._approvals.wait(stage)
        spec = self._input.spec
        run = workflow.info().run_id
        secrets = stage_secret_refs(spec, stage)
        status = self._pipeline_status.value if stage.cleanup else ""
        try:
            env = outputs_env(self._dependencies, stage.stage_id, self._stage_outputs())
        except OutputsConflict as err:
            return StageResult(
                status=StageStatus.FAILED,
                attempt=0,
                worker_pod_names=(),
                message="upstream outputs conflict",
                error_message=str(err),
            )
        if stage.stage_id not in self._children:
            ctx = StageContext(
                spec.pipeline_id,
                spec.repository,
                spec.commit_sha,
                run,
                stage,
                secrets,
                pipeline_status=status,
                outputs_env=env,
            )
            return await run_stage(ctx, self)
        inp = StageInput(
            pipeline_id=spec.pipeline_id,
            repository=spec.repository,
            commit_sha=spec.commit_sha,
            run=run,
            stage=stage,
            secrets=secrets,
            pipeline_status=status,
            outputs_env=env,
        )
        try:
            return await workflow.execute_child_workflow(
                StageWorkflow.run,
                inp,
                id=stage_workflow_id(spec.pipeline_id, stage.stage_id, inp.run),
                parent_close_policy=workflow.ParentClosePolicy.REQUEST_CANCEL,
                static_summary=f"stage {inp.stage.stage_id} ({inp.stage.type})",
            )
        except ChildWorkflowError as err:
            if isinstance(err.cause, asyncio.CancelledError):
                raise
            failed = carried(err.cause, STAGE_FAILED, StageResult)
            if failed is not None:
                return failed
            return StageResult(
                status=StageStatus.FAILED,
                attempt=self._progress.stages[inp.stage.stage_id].attempt,
                worker_pod_names=(),
                message="the stage workflow failed",
                error_message=str(err.cause or err),
            )

    async def _cancel_unfinished(self, message: str) -> None:
        """Cancels running stages (they delete their workers) and closes every other one
        but the cleanup stages, which run next."""
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
        for stage_id, state in self._progress.stages.items():
            if not state.status.finished and stage_id not in self._cleanup_graph:
                self._progress.stage_cancelled(workflow.now(), stage_id, message)
        self._show_stages()

    def _finish_stage(self, graph: Graph, stage_id: str, result: StageResult) -> None:
        result = self._within_outputs_budget(stage_id, result)
        self._progress.stage_ended(
            workflow.now(),
            stage_id,
            result.status,
            result.message,
            attempt=result.attempt,
            worker_pod_names=result.worker_pod_names,
            error_message=result.error_message,
            metrics=result.metrics,
            outputs=result.outputs,
        )
        if result.status is StageStatus.FAILED:
            self._skip_downstream(graph, stage_id, result.error_message)
        self._show_stages()

    def _within_outputs_budget(self, stage_id: str, result: StageResult) -> StageResult:
        """A completed stage whose outputs would pass the pipeline's budget fails."""
        if not result.outputs:
            return result
        try:
            check_pipeline_total(result.outputs, self._stage_outputs().values())
        except OutputsConflict as err:
            return result.model_copy(
                update={"status": StageStatus.FAILED, "error_message": str(err), "outputs": {}}
            )
        return result

    def _skip_downstream(self, graph: Graph, stage_id: str, error: str) -> None:
        now = workflow.now()
        if not self._progress.error_message:
            self._progress.error_message = f"stage {stage_id}: {error}"
        for skipped in downstream(graph, stage_id):
            if self._progress.stages[skipped].status is StageStatus.PENDING:
                self._progress.stage_skipped(
                    now, skipped, f"skipped: upstream stage {stage_id} failed"
                )

    def _finish_pipeline(self) -> ProgressPage:
        statuses = self._progress.stage_status()
        done = sum(1 for s in statuses.values() if s is StageStatus.COMPLETED)
        skipped = len(self._skipped_by_condition)
        ok = done + skipped == len(statuses) and not self._deadline_passed
        status = StageStatus.COMPLETED if ok else StageStatus.FAILED
        message = f"pipeline {status.value.lower()}: {done}/{len(statuses)} stages completed"
        if skipped:
            message += f", {skipped} skipped by conditions"
        if self._deadline_passed:
            message += f"; {self._progress.error_message}"
        self._update_pipeline(status, message)
        page = self._progress.tail(FINAL_EVENTS)
        if status is StageStatus.FAILED and fails_when_failed():
            table = visibility.stage_table(self._progress.stages.values(), self._matrices)
            raise pipeline_failed(message, page, table)
        return page

    def _show_stages(self) -> None:
        """The Web UI's table is written again once the task's other work is done, not at
        every transition: 1,000 stages starting together wrote 2,000 tables of 1,000 rows,
        and the workflow task passed Temporal's 2 s deadlock limit, again and again."""
        self._stages_shown = False

    async def _show_stages_when_changed(self) -> None:
        while True:
            await workflow.wait_condition(lambda: not self._stages_shown)
            self._write_stage_table()

    def _write_stage_table(self) -> None:
        self._stages_shown = True
        table = visibility.stage_table(self._progress.stages.values(), self._matrices)
        workflow.set_current_details(table)

    def _update_pipeline(self, status: StageStatus, message: str) -> None:
        self._progress.update_pipeline(workflow.now(), status, message)
        if status.finished:  # a pipeline starts with OttoStatus RUNNING: one upsert, at the end
            visibility.publish_status(status)
            self._write_stage_table()  # its run ends in this task: no later chance
