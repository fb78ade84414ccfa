"""Pipeline runs counted once each, started and ended, by the replica whose Temporal
worker did it: whichever replicas or streams follow a run, and no Temporal action added.

The gateway's streams cannot count runs: a repeated ExecutePipeline attaches to the run
and follows it from its start again, WatchPipeline and other replicas follow it too, and
a stream that breaks misses the end. Counting in the workflow's code as it runs is not
exact either: code runs live more than once when Temporal refuses a workflow task's
completion (events came in meanwhile) and another replica runs the task again, or when a
replica answers a query. So this interceptor notes what a run's live (not replayed) code
did, and then reads the run's history (a read, not an action) for which worker Temporal
took it from, counting it only if that is this one (the worker's identity, the client's):

* its start: the worker that completed the run's first workflow task;
* its end (status, duration, and the stages' durations and retries, from the run's own
  progress log): the worker whose workflow task closed the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, cast

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowHistoryEventFilterType
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from gateway.server.metrics import Metrics
from workflows.pipeline.models import ProgressEvent
from workflows.pipeline.workflow import PipelineWorkflow

log = logging.getLogger(__name__)
_TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
# Pages of history read: the first task's completion is among the first few events, and
# the close event and the task that closed the run among the last few.
_FIRST_EVENTS = 8
_LAST_EVENTS = 10


class PipelineRunCounts(Interceptor):
    """The worker's interceptor; made on the event loop that reads the histories, and
    counts while `checking()` is open."""

    def __init__(self, client: Client, metrics: Metrics) -> None:
        self._client = client
        self._metrics = metrics
        self._loop = asyncio.get_running_loop()
        self._checks: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def checking(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for check in self._checks:
                check.cancel()
            await asyncio.gather(*self._checks, return_exceptions=True)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        counts = self

        class Noting(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                if input.type is not PipelineWorkflow:
                    return await super().execute_workflow(input)
                if not workflow.unsafe.is_replaying_history_events():
                    counts._check(counts._count_start(workflow.info()))
                # Failed or cancelled, the run ended too; evicted (GeneratorExit), it did not.
                try:
                    result = await super().execute_workflow(input)
                except (Exception, asyncio.CancelledError):
                    counts._note_end()
                    raise
                counts._note_end()
                return result

        return Noting

    def _note_end(self) -> None:
        if workflow.unsafe.is_replaying_history_events():
            return
        run = cast(PipelineWorkflow, workflow.instance())
        self._check(self._count_end(workflow.info(), _all_events(run)))

    def _check(self, check: Coroutine[Any, Any, None]) -> None:
        """Runs `check` on this object's loop (workflow code runs in threads of its own)."""
        self._loop.call_soon_threadsafe(self._spawn, check)

    def _spawn(self, check: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(check)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _count_start(self, info: workflow.Info) -> None:
        handle = self._client.get_workflow_handle(info.workflow_id, run_id=info.run_id)
        try:
            # The first task's completion is the 4th event, unless a task failed first.
            events = handle.fetch_history_events(page_size=_FIRST_EVENTS, wait_new_event=True)
            async for event in events:
                if event.event_type == _TASK_COMPLETED:
                    if event.workflow_task_completed_event_attributes.identity == self._mine:
                        self._metrics.pipelines_started.inc()
                    return
        except Exception as err:  # Temporal unreachable: this start goes uncounted
            log.warning("pipeline run %s: start not counted: %s", info.run_id, err)

    async def _count_end(self, info: workflow.Info, events: list[ProgressEvent]) -> None:
        handle = self._client.get_workflow_handle(info.workflow_id, run_id=info.run_id)
        close = WorkflowHistoryEventFilterType.CLOSE_EVENT
        try:
            async for _ in handle.fetch_history_events(
                wait_new_event=True, event_filter_type=close
            ):
                break
            last = await self._client.workflow_service.get_workflow_execution_history_reverse(
                GetWorkflowExecutionHistoryReverseRequest(
                    namespace=self._client.namespace,
                    execution=WorkflowExecution(workflow_id=info.workflow_id, run_id=info.run_id),
                    maximum_page_size=_LAST_EVENTS,
                )
            )
        except Exception as err:  # Temporal unreachable: this end goes uncounted
            log.warning("pipeline run %s: end not counted: %s", info.run_id, err)
            return
        closing = next((e for e in last.history.events if e.event_type == _TASK_COMPLETED), None)
        if (
            closing is None
            or closing.workflow_task_completed_event_attributes.identity != self._mine
        ):
            return
        for event in events:
            self._metrics.pipeline_event(event)

    @property
    def _mine(self) -> str:
        """The identity this process's worker completes workflow tasks with."""
        return self._client.identity


def _all_events(run: PipelineWorkflow) -> list[ProgressEvent]:
    events: list[ProgressEvent] = []
    while page := run.progress(len(events)).events:
        events.extend(page)
    return events
