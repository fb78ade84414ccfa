"""Streams a pipeline's transitions: a long poll on its history, a query when it changed.

Reading history is free (no Temporal action) and a query is not, so the stream waits on
the run's history (`wait_new_event`) and asks the `progress` query only when a batch of
new events holds a completed workflow task: the pipeline's state changes only there. A
quiet pipeline costs nothing, however long it runs and however many streams follow it.

Each query asks for the events after the last version sent, so every transition goes out
once and in order. The stream ends after the pipeline-level final event. A run that
closed without one (terminated, or failed by a bug) gets a final event made from its
close event. The handle names a run: a stream never follows a newer run of the same id.
A call that Temporal is too busy or too far to answer is tried again (patience.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeAlias

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowContinuedAsNewError, WorkflowFailureError, WorkflowHandle

from gateway.pipelines.patience import Patience
from workflows.pipeline.models import PipelineSnapshot, ProgressEvent, ProgressPage, StageStatus
from workflows.pipeline.outcome import PIPELINE_FAILED, carried
from workflows.pipeline.workflow import PipelineWorkflow

PipelineHandle: TypeAlias = WorkflowHandle[PipelineWorkflow, ProgressPage]

# How a run that closed without its final event ends its stream.
_CLOSED_AS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: ("terminated", StageStatus.CANCELLED),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: ("canceled", StageStatus.CANCELLED),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: ("failed", StageStatus.FAILED),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: ("timed out", StageStatus.FAILED),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: (
        "continued as new",
        StageStatus.FAILED,
    ),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: ("completed", StageStatus.COMPLETED),
}
_UNKNOWN = ("closed", StageStatus.FAILED)


async def progress_page(
    handle: PipelineHandle, after: int, query_timeout: timedelta | None = None
) -> ProgressPage:
    """query_timeout: None is the Temporal client's own (30 s)."""
    return await handle.query(PipelineWorkflow.progress, after, rpc_timeout=query_timeout)


async def snapshot_page(
    handle: PipelineHandle, query_timeout: timedelta | None = None
) -> ProgressPage:
    """The current snapshot, without any event."""
    return await progress_page(handle, 2**31 - 1, query_timeout)


def is_final(event: ProgressEvent) -> bool:
    return not event.stage_id and event.status.finished


def changed_state(events: Sequence[HistoryEvent]) -> bool:
    """Whether the workflow may have changed what its query answers: only a completed
    workflow task runs workflow code."""
    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in events)


def close_event(events: Sequence[HistoryEvent]) -> HistoryEvent | None:
    return next((e for e in events if e.event_type in _CLOSED_AS), None)


async def follow(
    handle: PipelineHandle, after: int, patience: Patience
) -> AsyncIterator[ProgressEvent]:
    """Every transition after version `after`, to the run's final event."""
    history = handle.fetch_history_events(wait_new_event=True)
    snap: PipelineSnapshot | None = None
    while True:
        await patience.retried(history.fetch_next_page, "waiting on the pipeline's history")
        events = history.current_page or ()
        # Without a next page the run has closed (its close event is in this page).
        closed = close_event(events) or history.next_page_token is None
        if closed:
            tail = await patience.retried(
                partial(_returned_tail, handle, after), "reading the pipeline's result"
            )
            if tail is not None:
                for event in tail:
                    yield event
                return
        if changed_state(events) or closed:
            async for item in _news(handle, after, patience):
                if isinstance(item, PipelineSnapshot):
                    snap = item
                    continue
                yield item
                if is_final(item):
                    return
                after = item.version
        if closed:
            yield _closed_without_final(after, snap, close_event(events))
            return


async def final_page(handle: PipelineHandle) -> ProgressPage | None:
    """What a finished run ended with: its result, or the result its failure carries.
    None when it was cancelled, terminated or failed without one (a bug)."""
    try:
        return await handle.result(follow_runs=False)
    except WorkflowFailureError as err:
        return carried(err.cause, PIPELINE_FAILED, ProgressPage)
    except WorkflowContinuedAsNewError:
        return None


async def _returned_tail(handle: PipelineHandle, after: int) -> list[ProgressEvent] | None:
    """The events after `after` from the run's final page, which holds its last
    transitions; None without one, or when it starts too late."""
    result = await final_page(handle)
    if result is None or not result.events or result.events[0].version > after + 1:
        return None
    return [event for event in result.events if event.version > after]


async def _news(
    handle: PipelineHandle, after: int, patience: Patience
) -> AsyncIterator[ProgressEvent | PipelineSnapshot]:
    """The events after `after`, page by page, then the snapshot they lead to. A closed
    run still answers (a worker replays its history to), so its last events are not lost."""
    while True:
        page = await patience.retried(
            partial(progress_page, handle, after, patience.query_timeout), "the progress query"
        )
        for event in page.events:
            yield event
            after = event.version
        if not page.events or page.snapshot.version <= after:
            yield page.snapshot
            return


def _closed_without_final(
    after: int, snap: PipelineSnapshot | None, closed: HistoryEvent | None
) -> ProgressEvent:
    """The final event of a run that closed without logging one (terminated, say)."""
    how, status = _CLOSED_AS.get(closed.event_type, _UNKNOWN) if closed else _UNKNOWN
    at = closed.event_time.ToDatetime(tzinfo=UTC) if closed is not None else datetime.now(UTC)
    return ProgressEvent(
        version=after + 1,
        timestamp=at,
        status=status,
        message=f"pipeline workflow {how}",
        progress_percentage=snap.progress_percentage if snap else 0,
        started_at=snap.started_at if snap else None,
        completed_at=at,
        error_message=(snap.error_message if snap else "")
        or f"the workflow was {how} outside Ottoscaler",
    )
