"""Streams a pipeline's transitions by polling its `progress` query.

A query costs no history. Each poll asks for the events after the last version sent, so
every transition goes out once and in order however slow the client or the poll. The
stream ends after the pipeline-level final event; a workflow that closed without one
(terminated, or failed by a bug) gets a final event made from its close status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TypeAlias

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from workflows.pipeline.models import PipelineSnapshot, ProgressEvent, ProgressPage, StageStatus
from workflows.pipeline.workflow import PipelineWorkflow

PipelineHandle: TypeAlias = WorkflowHandle[PipelineWorkflow, PipelineSnapshot]

# Polls without news before asking Temporal whether the workflow closed behind our back.
_POLLS_BETWEEN_DESCRIBES = 20
_CLOSED_AS = {
    WorkflowExecutionStatus.TERMINATED: StageStatus.CANCELLED,
    WorkflowExecutionStatus.CANCELED: StageStatus.CANCELLED,
    WorkflowExecutionStatus.FAILED: StageStatus.FAILED,
    WorkflowExecutionStatus.TIMED_OUT: StageStatus.FAILED,
}


async def progress_page(handle: PipelineHandle, after: int) -> ProgressPage:
    return await handle.query(PipelineWorkflow.progress, after)


async def snapshot_page(handle: PipelineHandle) -> ProgressPage:
    """The current snapshot, without any event."""
    return await progress_page(handle, 2**31 - 1)


def is_final(event: ProgressEvent) -> bool:
    return not event.stage_id and event.status.finished


async def follow(
    handle: PipelineHandle, after: int, poll_seconds: float
) -> AsyncIterator[ProgressEvent]:
    idle_polls = 0
    while True:
        page = await progress_page(handle, after)
        for event in page.events:
            yield event
            if is_final(event):
                return
        if page.events:
            after = page.events[-1].version
            idle_polls = 0
            continue  # more may be waiting beyond this page
        idle_polls += 1
        if idle_polls % _POLLS_BETWEEN_DESCRIBES == 0:
            closed = await _closed_without_final(handle, page.snapshot)
            if closed is not None:
                yield closed
                return
        await asyncio.sleep(poll_seconds)


async def _closed_without_final(
    handle: PipelineHandle, snap: PipelineSnapshot
) -> ProgressEvent | None:
    description = await handle.describe()
    closed = description.status
    status = _CLOSED_AS.get(closed) if closed else None
    if closed is None or status is None:
        return None
    return ProgressEvent(
        version=snap.version + 1,
        timestamp=description.close_time or datetime.now(UTC),
        status=status,
        message=f"pipeline workflow {closed.name.lower()}",
        progress_percentage=snap.progress_percentage,
        started_at=snap.started_at,
        completed_at=description.close_time,
        error_message=snap.error_message
        or f"the workflow was {closed.name.lower()} outside Ottoscaler",
    )
