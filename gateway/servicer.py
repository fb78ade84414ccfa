"""OttoscalerService: routes each RPC to the service that owns it.

RPCs whose issue has not landed yet answer UNIMPLEMENTED (NotImplementedError is mapped
by the error interceptor), as the contract allows until then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from grpc import aio
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

from gateway.pipeline_service import PipelineService

Context: TypeAlias = aio.ServicerContext[Any, Any]


def _not_yet(rpc: str, issue: int) -> NotImplementedError:
    return NotImplementedError(f"{rpc} is not implemented yet (issue {issue})")


class OttoscalerServicer(pb_grpc.OttoscalerServiceServicer):
    def __init__(self, pipelines: PipelineService) -> None:
        self.pipelines = pipelines

    def ExecutePipeline(
        self, request: pb.PipelineRequest, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        return self.pipelines.execute(request)

    async def ScaleUp(self, request: pb.ScaleRequest, context: Context) -> pb.ScaleResponse:
        raise _not_yet("ScaleUp", 5)

    async def ScaleDown(self, request: pb.ScaleRequest, context: Context) -> pb.ScaleResponse:
        raise _not_yet("ScaleDown", 5)

    async def GetWorkerStatus(
        self, request: pb.WorkerStatusRequest, context: Context
    ) -> pb.WorkerStatusResponse:
        raise _not_yet("GetWorkerStatus", 5)

    async def GetPipeline(self, request: pb.PipelineRef, context: Context) -> pb.PipelineSnapshot:
        raise _not_yet("GetPipeline", 3)

    def WatchPipeline(
        self, request: pb.PipelineRef, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        raise _not_yet("WatchPipeline", 3)

    async def CancelPipeline(
        self, request: pb.CancelPipelineRequest, context: Context
    ) -> pb.CancelPipelineResponse:
        raise _not_yet("CancelPipeline", 3)

    def RetryPipeline(
        self, request: pb.RetryPipelineRequest, context: Context
    ) -> AsyncIterator[pb.PipelineProgress]:
        raise _not_yet("RetryPipeline", 3)

    def StreamWorkerLogs(
        self, request: pb.WorkerLogsRequest, context: Context
    ) -> AsyncIterator[pb.WorkerLogEntry]:
        raise _not_yet("StreamWorkerLogs", 6)
