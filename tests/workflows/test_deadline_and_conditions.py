"""The pipeline's deadline (a durable timer, on the time-skipping server) and stage
conditions (`when`, CEL), run through PipelineWorkflow with the mock runtime."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.runtimes.mock.runtime import MockRuntime
from tests.builders import mock_stage, pipeline, run_pipeline, worker
from workflows.pipeline.models import PipelineSpec, StageSpec, StageStatus

COMPLETED, FAILED = StageStatus.COMPLETED, StageStatus.FAILED
CANCELLED, SKIPPED = StageStatus.CANCELLED, StageStatus.SKIPPED


def when(stage: StageSpec, expression: str) -> StageSpec:
    return stage.model_copy(update={"when": expression})


async def test_the_deadline_cancels_running_stages_and_fails_the_pipeline(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    # The retry delay's timer is skipped through (no activity runs then); the deadline
    # fires while it waits.
    spec = pipeline(
        mock_stage("quick"),
        mock_stage("slow", "quick", workers=2, fail_attempts=1, max_attempts=2, retry_delay=3600),
        mock_stage("after", "slow"),
    ).model_copy(update={"timeout_seconds": 600})
    runtime = MockRuntime()
    async with worker(client, task_queue, runtime):
        result, events = await run_pipeline(client, task_queue, spec)
        handle = client.get_workflow_handle(f"pipeline-{spec.pipeline_id}")
        history = await handle.fetch_history()
        assert await runtime.list({"pipeline-id": spec.pipeline_id}) == []
    quick, slow, after = result.stages
    assert result.status is FAILED
    assert "DeadlineExceeded" in result.error_message
    assert "DeadlineExceeded" in events[-1].message
    assert quick.status is COMPLETED
    assert (slow.status, after.status) == (CANCELLED, CANCELLED)
    assert "DeadlineExceeded" in slow.message
    timers = [e for e in history.events if e.event_type is EventType.EVENT_TYPE_TIMER_STARTED]
    assert [t.timer_started_event_attributes.start_to_fire_timeout.seconds for t in timers] == [
        600,
        3600,
    ]
    assert "pipeline deadline" in timers[0].user_metadata.summary.data.decode()


async def test_a_pipeline_that_ends_in_time_cancels_its_deadline(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    spec = pipeline(mock_stage("build")).model_copy(update={"timeout_seconds": 600})
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, spec)
        history = await client.get_workflow_handle(f"pipeline-{spec.pipeline_id}").fetch_history()
    assert result.status is COMPLETED
    kinds = [e.event_type for e in history.events]
    assert EventType.EVENT_TYPE_TIMER_STARTED in kinds
    assert EventType.EVENT_TYPE_TIMER_CANCELED in kinds


def conditional(branch: str) -> PipelineSpec:
    spec = pipeline(
        mock_stage("build"),
        when(mock_stage("deploy", "build"), 'pipeline.metadata.branch == "main"'),
        mock_stage("smoke", "deploy"),
        when(mock_stage("notify", "deploy"), 'stages.deploy.status == "SKIPPED"'),
        mock_stage("report", "build"),
    )
    return spec.model_copy(update={"metadata": {"branch": branch}})


async def test_a_false_condition_skips_the_stage_and_its_dependents_without_failing(
    client: Client, task_queue: str
) -> None:
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, conditional("feature"))
    states = {s.stage_id: s for s in result.stages}
    assert result.status is COMPLETED
    assert states["deploy"].status is SKIPPED
    assert states["deploy"].message == 'when: pipeline.metadata.branch == "main" is false'
    assert states["smoke"].status is SKIPPED
    assert states["smoke"].message == "skipped: upstream stage deploy was skipped"
    # A dependent with a `when` of its own decides for itself, seeing the skip.
    assert states["notify"].status is COMPLETED
    assert states["report"].status is COMPLETED


async def test_a_true_condition_runs_the_stage(client: Client, task_queue: str) -> None:
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, conditional("main"))
    states = {s.stage_id: s.status for s in result.stages}
    assert result.status is COMPLETED
    assert states == {
        "build": COMPLETED,
        "deploy": COMPLETED,
        "smoke": COMPLETED,
        "notify": SKIPPED,
        "report": COMPLETED,
    }


async def test_a_condition_that_cannot_be_evaluated_fails_the_stage(
    client: Client, task_queue: str
) -> None:
    spec = pipeline(
        mock_stage("build"),
        when(mock_stage("deploy", "build"), 'pipeline.metadata.branch == "main"'),
    )
    async with worker(client, task_queue):
        result, _ = await run_pipeline(client, task_queue, spec)
    deploy = result.stages[1]
    assert result.status is FAILED
    assert deploy.status is FAILED
    assert "could not be evaluated" in deploy.error_message
    assert "no such member" in deploy.error_message
