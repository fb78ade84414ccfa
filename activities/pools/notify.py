"""NotifyWorkerStatus: tells otto-handler (OTTO_HANDLER_ADDR) about worker transitions.

One activity sends a batch of notices in order. A failure raises, and Temporal retries
the activity with backoff (workflows/pool/calls.py); the heartbeat records how many
notices went out, so a retry resumes after them instead of sending them twice. Codes
that no retry can fix (otto-handler does not serve the RPC, refuses our credentials)
give the batch up at once. The wire encoding is the gateway's, passed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio
from opentelemetry.trace import Tracer
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.tracing import client_tracing
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.pool.calls import NOTIFY_WORKERS
from workflows.pool.models import WorkerNotice

CALL_TIMEOUT_SECONDS = 10.0
HOPELESS = frozenset(
    {
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
)
Encode = Callable[[WorkerNotice], pb.WorkerStatusNotification]


class WorkerNotifier:
    def __init__(self, address: str, encode: Encode, tracer: Tracer | None = None) -> None:
        """address '' turns notifications off: every batch is dropped at once. tracer: a
        span per call, the child of the activity's (activities/tracing.py)."""
        self.address = address
        self.encode = encode
        self.tracer = tracer

    @activity.defn(name=NOTIFY_WORKERS)
    async def notify_workers(self, notices: list[WorkerNotice]) -> None:
        if not self.address:
            return
        details = activity.info().heartbeat_details
        sent = int(details[0]) if details else 0
        tracing = client_tracing(self.tracer)
        async with aio.insecure_channel(self.address, interceptors=tracing) as channel:
            stub = pb_grpc.OttoHandlerLogServiceStub(channel)
            for notice in notices[sent:]:
                await self._send(stub, notice)
                sent += 1
                activity.heartbeat(sent)

    async def _send(
        self, stub: pb_grpc.OttoHandlerLogServiceAsyncStub, notice: WorkerNotice
    ) -> None:
        try:
            ack = await stub.NotifyWorkerStatus(self.encode(notice), timeout=CALL_TIMEOUT_SECONDS)
        except aio.AioRpcError as err:
            raise ApplicationError(
                f"otto-handler at {self.address}: {err.code().name}: {err.details()}",
                type="NotifyRefused" if err.code() in HOPELESS else "NotifyFailed",
            ) from err
        if ack.status == pb.WorkerStatusAck.ERROR:
            raise ApplicationError(
                f"otto-handler could not take {notice.status} of {notice.worker_id}: {ack.message}",
                type="NotifyFailed",
            )

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.notify_workers]
