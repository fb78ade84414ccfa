"""OttoscalerService's StreamWorkerLogs (issue 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb


class LogService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def stream_worker_logs(self, request: pb.WorkerLogsRequest) -> AsyncIterator[pb.WorkerLogEntry]:
        raise NotImplementedError("StreamWorkerLogs is not implemented yet (issue 6)")
