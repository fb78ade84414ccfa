"""The gateway's Temporal calls for worker pools: one WorkerPoolWorkflow per task.

ScaleUp goes by update-with-start, so the first one starts the pool and later ones find
it. A pool that is ending (ScaleDown to 0, or its last worker just went) refuses new
ScaleUps; the call then retries briefly until the old run has closed and a new one starts.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.backoff import Backoff
from gateway.errors import Unavailable
from workflows.pool.models import (
    PoolInput,
    PoolSettings,
    ScaleDownRequest,
    ScaleResult,
    ScaleUpRequest,
)
from workflows.pool.specs import WORKFLOW_ID_PREFIX, pool_workflow_id
from workflows.pool.workflow import POOL_CLOSING, WorkerPoolWorkflow

log = logging.getLogger(__name__)

# Steady, not growing: a waiting ScaleUp starts the new pool soon after the old run closes.
CLOSING_PAUSE_SECONDS = 0.1
CLOSING_RETRIES = 100


def _pool_closing(err: WorkflowUpdateFailedError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == POOL_CLOSING


class PoolClient:
    def __init__(self, client: Client, task_queue: str, settings: PoolSettings) -> None:
        self.client = client
        self.task_queue = task_queue
        self.settings = settings

    async def scale_up(self, request: ScaleUpRequest) -> ScaleResult:
        closing = Backoff(CLOSING_PAUSE_SECONDS, CLOSING_PAUSE_SECONDS, retries=CLOSING_RETRIES)
        while True:
            start = WithStartWorkflowOperation(
                WorkerPoolWorkflow.run,
                PoolInput(task_id=request.task_id, settings=self.settings),
                id=pool_workflow_id(request.task_id),
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"worker pool of task {request.task_id}",
            )
            try:
                result: ScaleResult = await self.client.execute_update_with_start_workflow(
                    WorkerPoolWorkflow.scale_up, request, start_workflow_operation=start
                )
                return result
            except WorkflowUpdateFailedError as err:
                if not _pool_closing(err):
                    raise
            pause = closing.failed()
            if closing.exhausted:
                raise Unavailable(
                    f"the worker pool of task {request.task_id} is still ending; retry"
                )
            if closing.failures == 1:
                log.info("ScaleUp for task %s waits for its ending pool to close", request.task_id)
            await asyncio.sleep(pause)

    async def answered(self, task_id: str, request_id: str) -> bool:
        """True when the pool has already answered this request_id."""
        handle = self.client.get_workflow_handle_for(
            WorkerPoolWorkflow.run, pool_workflow_id(task_id)
        )
        try:
            return await handle.query(WorkerPoolWorkflow.answer, request_id) is not None
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return False
            raise

    async def scale_down(self, task_id: str, target: int) -> ScaleResult | None:
        """None when the task has no running pool."""
        handle = self.client.get_workflow_handle_for(
            WorkerPoolWorkflow.run, pool_workflow_id(task_id)
        )
        try:
            result: ScaleResult = await handle.execute_update(
                WorkerPoolWorkflow.scale_down, ScaleDownRequest(target=target)
            )
            return result
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None
            raise

    async def running_pools(self) -> set[str]:
        """Task ids of the running pools on this task queue (Temporal visibility)."""
        query = (
            "WorkflowType = 'WorkerPoolWorkflow' AND ExecutionStatus = 'Running' "
            f"AND TaskQueue = '{self.task_queue}'"
        )
        return {
            execution.id.removeprefix(WORKFLOW_ID_PREFIX)
            async for execution in self.client.list_workflows(query)
        }
