"""StageWorkflow: one stage of a pipeline, its shards and its attempts.

A child workflow per stage keeps every history small: the pipeline's history grows by a
few events per stage, a stage's by a few per shard attempt. Only the shards that failed
run again; the retry delay is a durable timer; every worker the stage created is deleted,
also when the stage is cancelled.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.pipeline.inputs import StageInput, StageReport, StageResult
    from workflows.pipeline.models import StageMetrics, StageStatus
    from workflows.pipeline.shards import StageContext, is_retryable
    from workflows.workers import calls as worker_calls
    from workflows.workers.spec import WorkerOutcome, WorkerSpec

STAGE_REPORT_SIGNAL = "stage_report"


def activity_failure(name: str, err: ActivityError) -> WorkerOutcome:
    cause = err.cause
    reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "RuntimeError"
    return WorkerOutcome(name=name, succeeded=False, reason=reason, message=str(cause or err))


@workflow.defn
class StageWorkflow:
    @workflow.run
    async def run(self, inp: StageInput) -> StageResult:
        ctx = StageContext(inp.pipeline_id, inp.repository, inp.commit_sha, inp.run, inp.stage)
        stage = inp.stage
        max_attempts = stage.attempts_allowed
        shards = list(range(stage.worker_count))
        names: dict[int, str] = {}
        succeeded = 0
        for attempt in range(1, max_attempts + 1):
            names.update({shard: ctx.worker_name(shard, attempt) for shard in shards})
            await self._report(
                inp, StageStatus.RUNNING, attempt, names, f"attempt {attempt}/{max_attempts}"
            )
            outcomes = await asyncio.gather(
                *(self._run_shard(ctx.worker_spec(shard, attempt)) for shard in shards)
            )
            failed = [(s, o) for s, o in zip(shards, outcomes, strict=True) if not o.succeeded]
            succeeded += len(shards) - len(failed)
            if not failed:
                return self._result(StageStatus.COMPLETED, attempt, names, succeeded, 0, "")
            first = failed[0][1]
            error = f"shard {failed[0][0]}: {first.failure_text}"
            retryable = all(is_retryable(o, stage.retry.retryable_failures) for _, o in failed)
            if attempt == max_attempts or not retryable:
                why = "" if retryable else " (not retryable)"
                return self._result(
                    StageStatus.FAILED, attempt, names, succeeded, len(failed), error + why
                )
            shards = [shard for shard, _ in failed]
            await self._report(
                inp,
                StageStatus.RETRYING,
                attempt,
                names,
                f"attempt {attempt + 1}/{max_attempts} in {stage.retry.retry_delay_seconds}s",
                error,
            )
            if stage.retry.retry_delay_seconds:
                await workflow.sleep(
                    timedelta(seconds=stage.retry.retry_delay_seconds),
                    summary=f"{stage.stage_id} · retry delay before attempt {attempt + 1}",
                )
        raise AssertionError("unreachable: the last attempt always returns")

    async def _run_shard(self, spec: WorkerSpec) -> WorkerOutcome:
        """Create, await while its logs are tailed, delete. The delete waits for the tail
        (no line is lost) and also runs when the stage is cancelled.

        An activity that gave up (a permanent runtime error, or retries exhausted) fails
        the shard with the error's type as its reason, so the stage's own retry policy
        decides what happens next.
        """
        try:
            await worker_calls.create_worker(spec)
            outcome = await worker_calls.await_with_logs(spec)
        except ActivityError as err:
            outcome = activity_failure(spec.name, err)
        except asyncio.CancelledError:
            await self._delete(spec)
            raise
        # Not in a `finally`: when a worker evicts the workflow it closes this coroutine
        # (GeneratorExit), and no activity may be scheduled then.
        await self._delete(spec)
        return outcome

    async def _delete(self, spec: WorkerSpec) -> None:
        try:
            await worker_calls.delete_worker(spec)
        except ActivityError as err:
            # The worker outlives us; the orphan reaper removes it later.
            workflow.logger.warning("could not delete worker %s: %s", spec.name, err)

    async def _report(
        self,
        inp: StageInput,
        status: StageStatus,
        attempt: int,
        names: dict[int, str],
        message: str,
        error: str = "",
    ) -> None:
        parent = workflow.info().parent
        if parent is None:
            return
        report = StageReport(
            stage_id=inp.stage.stage_id,
            status=status,
            attempt=attempt,
            max_attempts=inp.stage.attempts_allowed,
            worker_pod_names=tuple(names[s] for s in sorted(names)),
            message=message,
            error_message=error,
        )
        pipeline = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
        await pipeline.signal(STAGE_REPORT_SIGNAL, report)

    def _result(
        self,
        status: StageStatus,
        attempt: int,
        names: dict[int, str],
        succeeded: int,
        failed: int,
        error: str,
    ) -> StageResult:
        total = len(names)
        return StageResult(
            status=status,
            attempt=attempt,
            worker_pod_names=tuple(names[s] for s in sorted(names)),
            message=f"{succeeded}/{total} workers succeeded in {attempt} attempt(s)",
            error_message=error,
            metrics=StageMetrics(
                successful_workers=succeeded, failed_workers=failed, total_workers=total
            ),
        )
