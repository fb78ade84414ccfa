"""A stage's attempts and shards, run inside whichever workflow holds the stage.

Most stages run inside PipelineWorkflow's own history; a stage too large for it runs in
a StageWorkflow child (placement.py decides). Either way each shard attempt is one
run_worker activity, only the shards that failed run again, the retry delay is a
durable timer, and every worker the stage created is deleted, also when the stage is
cancelled: the stage ends only once every shard has.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.pipeline.inputs import StageInput, StageReport, StageResult
from workflows.pipeline.models import StageMetrics, StageStatus
from workflows.pipeline.outcome import fails_when_failed, stage_failed
from workflows.pipeline.outputs import OutputsConflict, merge_shards
from workflows.pipeline.shards import StageContext, is_retryable, shard_name
from workflows.workers import calls as worker_calls
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.room import ROOM_SIGNAL, RoomReport
from workflows.workers.spec import WorkerOutcome, WorkerSpec

STAGE_REPORT_SIGNAL = "stage_report"
NOT_A_CHILD = "NotAChild"


class StageReporter(Protocol):
    """Where a running stage reports what the pipeline's progress shows."""

    async def attempt_started(
        self, stage_id: str, attempt: int, worker_pod_names: tuple[str, ...]
    ) -> None: ...

    async def retry_scheduled(
        self, stage_id: str, attempt: int, next_attempt: int, error: str
    ) -> None: ...


async def run_stage(ctx: StageContext, reporter: StageReporter) -> StageResult:
    stage = ctx.stage
    max_attempts = stage.attempts_allowed
    shards = list(range(stage.worker_count))
    names: dict[int, str] = {}
    shard_outputs: dict[int, dict[str, str]] = {}
    succeeded = 0
    for attempt in range(1, max_attempts + 1):
        names.update({shard: ctx.worker_name(shard, attempt) for shard in shards})
        await reporter.attempt_started(stage.stage_id, attempt, _ordered(names))
        outcomes = await _run_shards([ctx.worker_spec(shard, attempt) for shard in shards])
        ended = list(zip(shards, outcomes, strict=True))
        shard_outputs.update((s, o.outputs) for s, o in ended if o.succeeded)
        failed = [(s, o) for s, o in ended if not o.succeeded]
        succeeded += len(shards) - len(failed)
        if not failed:
            return _completed(attempt, names, succeeded, shard_outputs)
        first_shard, first = failed[0]
        error = f"{shard_name(first_shard, stage.worker_count)}: {first.failure_text}"
        retryable = all(is_retryable(o, stage.retry.retryable_failures) for _, o in failed)
        if attempt == max_attempts or not retryable:
            why = "" if retryable else " (not retryable)"
            return _result(StageStatus.FAILED, attempt, names, succeeded, len(failed), error + why)
        shards = [shard for shard, _ in failed]
        await reporter.retry_scheduled(stage.stage_id, attempt, attempt + 1, error)
        if stage.retry.retry_delay_seconds:
            await workflow.sleep(
                timedelta(seconds=stage.retry.retry_delay_seconds),
                summary=f"{stage.stage_id} · retry delay before attempt {attempt + 1}",
            )
    raise AssertionError("unreachable: the last attempt always returns")


async def _run_shards(specs: list[WorkerSpec]) -> list[WorkerOutcome]:
    """Every shard at once. Cancelled, it returns only after every shard has deleted its
    worker: gather alone would end at the first shard that finished cancelling."""
    tasks = [asyncio.create_task(_run_shard(spec)) for spec in specs]
    try:
        return list(await asyncio.gather(*tasks))
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _run_shard(spec: WorkerSpec) -> WorkerOutcome:
    """One run_worker activity. It deletes its worker itself, except when it gave up (a
    permanent runtime error, or retries exhausted) or is cancelled: then the worker is
    deleted here, and a shard that gave up fails with the error's type as its reason, so
    that the stage's own retry policy decides what happens next."""
    try:
        return await worker_calls.run_worker(spec)
    except ActivityError as err:
        outcome = activity_failure(spec.name, err)
    except asyncio.CancelledError:
        await _delete(spec)
        raise
    # Not in a `finally`: when a worker evicts the workflow it closes this coroutine
    # (GeneratorExit), and no activity may be scheduled then.
    await _delete(spec)
    return outcome


async def _delete(spec: WorkerSpec) -> None:
    try:
        await worker_calls.delete_worker(spec)
    except ActivityError as err:
        # The worker outlives us; the orphan reaper removes it later.
        workflow.logger.warning("could not delete worker %s: %s", spec.name, err)


def activity_failure(name: str, err: ActivityError) -> WorkerOutcome:
    cause = err.cause
    reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "RuntimeError"
    return WorkerOutcome(name=name, succeeded=False, reason=reason, message=str(cause or err))


def _completed(
    attempt: int, names: dict[int, str], succeeded: int, shard_outputs: dict[int, dict[str, str]]
) -> StageResult:
    """Every shard succeeded: the stage completes with their outputs merged, or fails when
    they cannot be (no retry: the same programs would write the same outputs)."""
    try:
        outputs = merge_shards(shard_outputs)
    except OutputsConflict as err:
        return _result(StageStatus.FAILED, attempt, names, succeeded, 0, str(err))
    result = _result(StageStatus.COMPLETED, attempt, names, succeeded, 0, "")
    return result.model_copy(update={"outputs": outputs}) if outputs else result


def _ordered(names: dict[int, str]) -> tuple[str, ...]:
    return tuple(names[shard] for shard in sorted(names))


def _result(
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
        worker_pod_names=_ordered(names),
        message=f"{succeeded}/{total} workers succeeded in {attempt} attempt(s)",
        error_message=error,
        metrics=StageMetrics(
            successful_workers=succeeded, failed_workers=failed, total_workers=total
        ),
    )


class _SignalParent:
    """A child stage's reports travel to its pipeline as signals."""

    def __init__(self, inp: StageInput) -> None:
        self.inp = inp

    async def attempt_started(
        self, stage_id: str, attempt: int, worker_pod_names: tuple[str, ...]
    ) -> None:
        await self._send(StageStatus.RUNNING, attempt, worker_pod_names, "")

    async def retry_scheduled(
        self, stage_id: str, attempt: int, next_attempt: int, error: str
    ) -> None:
        await self._send(StageStatus.RETRYING, attempt, (), error)

    async def room_reported(self, report: RoomReport) -> None:
        await self._signal(ROOM_SIGNAL, report)

    async def _send(
        self, status: StageStatus, attempt: int, names: tuple[str, ...], error: str
    ) -> None:
        report = StageReport(
            stage_id=self.inp.stage.stage_id,
            status=status,
            attempt=attempt,
            worker_pod_names=names,
            error_message=error,
        )
        await self._signal(STAGE_REPORT_SIGNAL, report)

    async def _signal(self, name: str, report: StageReport | RoomReport) -> None:
        parent = workflow.info().parent
        if parent is None:
            return
        pipeline = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
        await pipeline.signal(name, report)


# Outside the SDK's sandbox, which made a 20-stage pipeline's workflow take 178 ms
# instead of 140 (bench/cost.py); determinism is kept by ruff's banned-api rules for
# workflows/, import-linter's contracts and the replay tests.
@workflow.defn(sandboxed=False)
class StageWorkflow:
    """A stage too large for its pipeline's history, in a history of its own."""

    @workflow.init
    def __init__(self, inp: StageInput) -> None:
        self._parent = _SignalParent(inp)

    @workflow.signal(name=ROOM_SIGNAL)
    async def room_report(self, report: RoomReport) -> None:
        """Its workers' waits for room belong in the pipeline's progress."""
        await self._parent.room_reported(report)

    @workflow.run
    async def run(self, inp: StageInput) -> StageResult:
        parent = workflow.info().parent
        if parent is None or parent.workflow_id != pipeline_workflow_id(inp.pipeline_id):
            # Its workers' signatures hold in any child of their pipeline: started on its own,
            # a signed stage could be run again under as many ids as anyone liked.
            raise ApplicationError(
                f"stage {inp.stage.stage_id} of pipeline {inp.pipeline_id} runs only as a child "
                "of its pipeline's workflow: start pipelines through the gateway",
                type=NOT_A_CHILD,
                non_retryable=True,
            )
        ctx = StageContext(
            inp.pipeline_id,
            inp.repository,
            inp.commit_sha,
            inp.run,
            inp.stage,
            inp.secrets,
            inp.pipeline_status,
            inp.outputs_env,
        )
        result = await run_stage(ctx, self._parent)
        # A room report being forwarded is sent before the stage ends, not dropped.
        await workflow.wait_condition(workflow.all_handlers_finished)
        if result.status is StageStatus.FAILED and fails_when_failed():
            raise stage_failed(inp.stage.stage_id, result)
        return result
