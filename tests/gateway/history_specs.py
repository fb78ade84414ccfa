"""The WorkerSpecs a pipeline's run_worker activities were scheduled with, from its history."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from workflows.workers.calls import RUN_WORKER
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import WorkerSpec


async def scheduled_specs(client: Client, pipeline_id: str) -> list[WorkerSpec]:
    history = await client.get_workflow_handle(pipeline_workflow_id(pipeline_id)).fetch_history()
    specs: list[WorkerSpec] = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        if scheduled.activity_type.name == RUN_WORKER:
            [spec] = await client.data_converter.decode(scheduled.input.payloads, [WorkerSpec])
            specs.append(spec)
    return specs
