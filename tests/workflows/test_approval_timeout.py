"""An approval stage's timeout_seconds, a durable timer, on the time-skipping server."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.builders import mock_stage, pipeline, run_pipeline, worker
from workflows.pipeline.models import StageSpec, StageStatus


async def test_an_unanswered_approval_times_out_and_fails_the_pipeline(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    gate = StageSpec(stage_id="gate", type="approval", timeout_seconds=6 * 3600)
    spec = pipeline(gate, mock_stage("deploy", "gate"))
    async with worker(client, task_queue):
        result, events = await run_pipeline(client, task_queue, spec)
        history = await client.get_workflow_handle(f"pipeline-{spec.pipeline_id}").fetch_history()
    assert result.status is StageStatus.FAILED
    gate_state, deploy = result.stages
    assert (gate_state.status, deploy.status) == (StageStatus.FAILED, StageStatus.SKIPPED)
    assert gate_state.error_message == "approval timed out: no answer within 21600s"
    waiting = [
        e.message for e in events if e.stage_id == "gate" and e.status is StageStatus.RUNNING
    ]
    assert waiting == [
        "starting",
        "waiting for approval (at most 21600s): answer with ApproveStage",
    ]
    timers = [e for e in history.events if e.event_type is EventType.EVENT_TYPE_TIMER_STARTED]
    # One timer for the whole wait: nothing polls.
    assert len(timers) == 1
    assert timers[0].timer_started_event_attributes.start_to_fire_timeout.seconds == 6 * 3600
    assert timers[0].user_metadata.summary.data.decode() == '"gate · approval wait · 21600s"'
