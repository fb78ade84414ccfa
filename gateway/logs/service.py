"""OttoscalerService's StreamWorkerLogs: the logs of a pipeline, task, stage or pod.

StreamWorkerLogBatches sends the same entries many to a message: one Python gRPC stream
carries about 12,000 messages a second here (bench/logs.py), fewer than a worker prints.

Replays the archive from `from_sequence` (per pod), then with `follow` goes on live
(activities/logs/follow.py) until those workers are done: a pipeline's or a task's
(a pipeline, or a worker pool) until its workflow has closed, a stage's until the
pipeline reports the stage finished, a single pod's until its output is complete. Without
`follow` it ends at what is archived now. An unknown pipeline is NOT_FOUND; a pod that
is not archived yet is waited for when following (LOG_POD_WAIT_SECONDS at most, unless
its pipeline or task is named too), NOT_FOUND otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeAlias

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from activities.logs import LogSelector, LogSinks, PodMeta, follow_logs
from activities.logs.follow import OwnerClosed
from activities.logs.lines import LogLine
from gateway.errors import NotFound
from gateway.logs.wire import batches_to_wire, entry_to_wire, pod_metadata, selector_from_wire
from gateway.pipelines.stream import PipelineHandle, snapshot_page
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.pool.models import PoolTotals
from workflows.pool.specs import pool_workflow_id
from workflows.pool.workflow import WorkerPoolWorkflow
from workflows.workers.naming import pipeline_workflow_id

PoolHandle: TypeAlias = WorkflowHandle[WorkerPoolWorkflow, PoolTotals]
OwnerHandle: TypeAlias = PipelineHandle | PoolHandle


async def _exists(handle: OwnerHandle) -> bool:
    try:
        await handle.describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _running(handle: OwnerHandle) -> bool:
    return (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


def pipeline_closed(handle: PipelineHandle, stage_id: str) -> OwnerClosed:
    """Closed with the pipeline's run; for a stage, also once the pipeline reports it finished."""

    async def closed() -> bool:
        if not await _running(handle):
            return True
        if not stage_id:
            return False
        stages = (await snapshot_page(handle)).snapshot.stages
        return any(stage.stage_id == stage_id and stage.status.finished for stage in stages)

    return closed


def pool_closed(handle: PoolHandle) -> OwnerClosed:
    """Closed with the pool's run; its workers have no stage, so a stage_id changes nothing."""

    async def closed() -> bool:
        return not await _running(handle)

    return closed


class LogService:
    def __init__(self, settings: Settings, client: Client, sinks: LogSinks) -> None:
        self.settings = settings
        self.client = client
        self.sinks = sinks

    async def stream_worker_logs(
        self, request: pb.WorkerLogsRequest
    ) -> AsyncIterator[pb.WorkerLogEntry]:
        async for meta, pod, lines in self._lines(request):
            for line in lines:
                yield entry_to_wire(meta, pod, line)

    async def stream_worker_log_batches(
        self, request: pb.WorkerLogsRequest
    ) -> AsyncIterator[pb.WorkerLogBatch]:
        async for meta, pod, lines in self._lines(request):
            for batch in batches_to_wire(meta, pod, lines):
                yield batch

    async def _lines(
        self, request: pb.WorkerLogsRequest
    ) -> AsyncIterator[tuple[PodMeta, pb.WorkerMetadata, Sequence[LogLine]]]:
        """The lines, in order, as many at a time as the log path hands over, with their
        pod and its metadata on the wire."""
        selector = selector_from_wire(request)
        owner_closed = await self._owner_closed(selector)
        if owner_closed is None and selector.pod and not await self._appears(selector, request):
            raise NotFound(f"worker_pod_name: no logs of pod {selector.pod!r}")
        pods: dict[str, pb.WorkerMetadata] = {}
        async for batch in follow_logs(
            self.sinks,
            selector,
            request.from_sequence,
            follow=request.follow,
            owner_closed=owner_closed,
            poll_seconds=self.sinks.poll_seconds,
        ):
            meta = batch.meta
            pod = pods.get(meta.pod)
            if pod is None:
                pod = pods[meta.pod] = pod_metadata(meta, self.settings.namespace)
            yield meta, pod, batch.lines

    async def _archived(self, selector: LogSelector) -> bool:
        return self.sinks.archive is not None and bool(await self.sinks.archive.find(selector))

    async def _appears(self, selector: LogSelector, request: pb.WorkerLogsRequest) -> bool:
        """Whether the pod's log exists; followed, it may appear within LOG_POD_WAIT_SECONDS
        (a pod is named in progress a moment before its log opens). Nothing names an owner
        whose end would end the wait."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.log_pod_wait_seconds if request.follow else 0)
        while not await self._archived(selector):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(self.settings.log_poll_seconds)  # a pod's first write
        return True

    async def _owner_closed(self, selector: LogSelector) -> OwnerClosed | None:
        """The closed check of the workflow whose workers these are, when the request names
        one: the pipeline, or for a task_id that is no pipeline, the task's worker pool."""
        owner_id = selector.pipeline_id or selector.task_id
        if not owner_id:
            return None
        pipeline = self.client.get_workflow_handle_for(
            PipelineWorkflow.run, pipeline_workflow_id(owner_id)
        )
        if await _exists(pipeline):
            return pipeline_closed(pipeline, selector.stage_id)
        if not selector.pipeline_id:
            pool = self.client.get_workflow_handle_for(
                WorkerPoolWorkflow.run, pool_workflow_id(owner_id)
            )
            if await _exists(pool):
                return pool_closed(pool)
        if await self._archived(selector):
            return None  # its history is gone, its logs are not
        field = "pipeline_id" if selector.pipeline_id else "task_id"
        raise NotFound(f"{field}: no pipeline or task {owner_id!r}")
