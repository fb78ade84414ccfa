"""NotifyWorkerStatus reaches a real OttoHandlerLogService server, in order, retried, and
never holds up the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio

from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.pools.calls import Stub, new_task, scale_down, scale_up
from tests.waiting import eventually

Context = aio.ServicerContext[Any, Any]


class OttoHandler(pb_grpc.OttoHandlerLogServiceServicer):
    """otto-handler's side: fails the first `failures` calls, holds calls while `paused`."""

    def __init__(self) -> None:
        self.received: list[pb.WorkerStatusNotification] = []
        self.calls = 0
        self.failures = 0
        self.open = asyncio.Event()
        self.open.set()

    async def NotifyWorkerStatus(
        self, request: pb.WorkerStatusNotification, context: Context
    ) -> pb.WorkerStatusAck:
        self.calls += 1
        if self.calls <= self.failures:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "otto-handler is restarting")
        await self.open.wait()
        self.received.append(request)
        return pb.WorkerStatusAck(status=pb.WorkerStatusAck.RECEIVED)

    def ForwardWorkerLogs(self, request_iterator: Any, context: Context) -> Any:
        raise NotImplementedError("only NotifyWorkerStatus is exercised here")

    def statuses(self, worker: str) -> list[str]:
        return [
            pb.WorkerStatusNotification.StatusType.Name(n.status)
            for n in self.received
            if n.worker_id == worker
        ]


@pytest.fixture
async def handler() -> AsyncIterator[tuple[OttoHandler, int]]:
    otto = OttoHandler()
    server = aio.server()
    pb_grpc.add_OttoHandlerLogServiceServicer_to_server(otto, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield otto, port
    finally:
        await server.stop(None)


@pytest.fixture
def otto(handler: tuple[OttoHandler, int]) -> OttoHandler:
    return handler[0]


@pytest.fixture
def settings(settings: Settings, handler: tuple[OttoHandler, int]) -> Settings:
    return settings.model_copy(update={"otto_handler_addr": f"127.0.0.1:{handler[1]}"})


async def test_every_transition_is_sent_in_order(stub: Stub, otto: OttoHandler) -> None:
    task = new_task()
    done = await scale_up(stub, task, 1, "req-ok", mock_pending="0.2", mock_duration="0.2")
    failing = await scale_up(stub, task, 1, mock_exit_code="3")
    stopped = await scale_up(stub, task, 1, mock_duration="600")
    [ok], [bad], [gone] = done.worker_pod_names, failing.worker_pod_names, stopped.worker_pod_names

    async def ended() -> bool:
        return "COMPLETED" in otto.statuses(ok) and "FAILED" in otto.statuses(bad)

    await eventually(ended)
    await scale_down(stub, task, 0)

    async def terminated() -> bool:
        return "TERMINATED" in otto.statuses(gone)

    await eventually(terminated)
    assert otto.statuses(ok) == ["CREATED", "RUNNING", "COMPLETED"]
    assert otto.statuses(bad) == ["CREATED", "RUNNING", "FAILED"]
    assert otto.statuses(gone) == ["CREATED", "RUNNING", "TERMINATED"]
    first = otto.received[0]
    assert (first.task_id, first.timestamp[-1]) == (task, "Z")
    assert first.metadata["request_id"] == "req-ok"
    why = {
        n.worker_id: n.reason
        for n in otto.received
        if n.status >= pb.WorkerStatusNotification.FAILED
    }
    assert why == {bad: "Error (exit 3)", gone: "worker pool ended"}


async def test_a_failing_otto_handler_is_retried_and_never_holds_up_scaling(
    stub: Stub, otto: OttoHandler
) -> None:
    otto.failures = 1  # the first call fails, the retry is held until otto-handler is back
    otto.open.clear()
    task = new_task()
    answer = await scale_up(stub, task, 2, mock_duration="600")
    assert answer.status == pb.ScaleResponse.SUCCESS

    async def retried() -> bool:
        return otto.calls >= 2

    await eventually(retried)
    assert (await scale_down(stub, task, 1)).processed_count == 1
    otto.open.set()

    async def all_sent() -> bool:
        return len(otto.received) == 5

    await eventually(all_sent)
    first, second = answer.worker_pod_names
    assert otto.statuses(first) == ["CREATED", "RUNNING"]
    assert otto.statuses(second) == ["CREATED", "RUNNING", "TERMINATED"]
