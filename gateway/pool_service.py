"""OttoscalerService's worker-pool RPCs: ScaleUp, ScaleDown, GetWorkerStatus (issue 5)."""

from __future__ import annotations

from temporalio.client import Client

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb


class PoolService:
    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def scale_up(self, request: pb.ScaleRequest) -> pb.ScaleResponse:
        raise NotImplementedError("ScaleUp is not implemented yet (issue 5)")

    async def scale_down(self, request: pb.ScaleRequest) -> pb.ScaleResponse:
        raise NotImplementedError("ScaleDown is not implemented yet (issue 5)")

    async def worker_status(self, request: pb.WorkerStatusRequest) -> pb.WorkerStatusResponse:
        raise NotImplementedError("GetWorkerStatus is not implemented yet (issue 5)")
