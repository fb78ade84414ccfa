"""OttoscalerService: routes each RPC to the service that owns it.

pipelines: PipelineService (gateway/pipelines/service.py), worker pools: PoolService
(gateway/pools/service.py), logs: LogService (gateway/logs/service.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from grpc import aio

from gateway.logs.service import LogService
from gateway.pipelines.service import PipelineService
from gateway.pools.service import PoolService
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

Context: TypeAlias = aio.ServicerContext[Any, Any]


class OttoscalerServicer(pb_grpc.OttoscalerServiceServicer):
    def __init__(self, pipelines: PipelineService, pools: PoolService, logs: LogService) -> None:
        self.pipelines = pipelines
        self.pools = pools
        self.logs = logs

    # gRPC method names are CamelCase by contract.
    def ExecutePipeline(
        self, request: pb.PipelineRequest, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        return self.pipelines.execute(request)

    async def GetPipeline(self, request: pb.PipelineRef, context: Context) -> pb.PipelineSnapshot:
        return await self.pipelines.get(request)

    def WatchPipeline(
        self, request: pb.PipelineRef, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        return self.pipelines.watch(request)

    async def CancelPipeline(
        self, request: pb.CancelPipelineRequest, context: Context
    ) -> pb.CancelPipelineResponse:
        return await self.pipelines.cancel(request)

    def RetryPipeline(
        self, request: pb.RetryPipelineRequest, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        return self.pipelines.retry(request)

    async def ListPipelines(
        self, request: pb.ListPipelinesRequest, context: Context
    ) -> pb.ListPipelinesResponse:
        return await self.pipelines.list_runs(request)

    async def ApproveStage(
        self, request: pb.ApproveStageRequest, context: Context
    ) -> pb.ApproveStageResponse:
        return await self.pipelines.approve(request)

    async def ScaleUp(self, request: pb.ScaleRequest, context: Context) -> pb.ScaleResponse:
        return await self.pools.scale_up(request)

    async def ScaleDown(self, request: pb.ScaleRequest, context: Context) -> pb.ScaleResponse:
        return await self.pools.scale_down(request)

    async def GetWorkerStatus(
        self, request: pb.WorkerStatusRequest, context: Context
    ) -> pb.WorkerStatusResponse:
        return await self.pools.worker_status(request)

    def StreamWorkerLogs(
        self, request: pb.WorkerLogsRequest, context: Context
    ) -> AsyncIterator[pb.WorkerLogEntry]:
        return self.logs.stream_worker_logs(request)

    def StreamWorkerLogBatches(
        self, request: pb.WorkerLogsRequest, context: Context
    ) -> AsyncIterator[pb.WorkerLogBatch]:
        return self.logs.stream_worker_log_batches(request)
