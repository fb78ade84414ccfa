"""The shared plot, first half: a diamond pipeline under load on the process to crash."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from grpc import aio
from temporalio.client import Client

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE
from tests.reliability.cluster import running_pods, workers_followed
from tests.reliability.diamond import FIRST, STAGES, diamond_request, expected_pods
from tests.reliability.serve import Serve
from tests.waiting import eventually

ExecuteCall = aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress]
UNDER_LOAD_WITHIN = 20.0


@dataclass(frozen=True)
class InFlight:
    pipeline_id: str
    run_id: str
    execute: ExecuteCall  # the ExecutePipeline stream, still open on the first process

    @property
    def pods(self) -> dict[str, list[str]]:
        return expected_pods(self.pipeline_id, self.run_id)


@asynccontextmanager
async def under_load(
    serve: Serve, client: Client, emulator: KubeEmulator
) -> AsyncIterator[InFlight]:
    """ExecutePipeline on serve, until every pod of the first stage runs and is followed by
    its run_worker activity; the stream stays open for the test to crash the process."""
    request = diamond_request()
    pipeline_id = request.pipeline_id
    workers = STAGES[FIRST][1]
    async with aio.insecure_channel(serve.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        execute: ExecuteCall = stub.ExecutePipeline(request)
        started = await execute.read()
        assert isinstance(started, pb.PipelineProgress)
        assert (started.stage_id, started.status) == ("", pb.STAGE_RUNNING)

        async def first_stage_runs() -> bool:
            return running_pods(emulator, FIRST) == workers

        await eventually(first_stage_runs, within=UNDER_LOAD_WITHIN)
        run_id = (await stub.GetPipeline(pb.PipelineRef(pipeline_id=pipeline_id))).run_id

        async def followed() -> bool:
            return await workers_followed(client, pipeline_id, run_id, workers)

        await eventually(followed, within=UNDER_LOAD_WITHIN)
        yield InFlight(pipeline_id, run_id, execute)


def end_first_stage(emulator: KubeEmulator, inflight: InFlight) -> None:
    """The first stage's pods, still running after the crash, succeed now."""
    for name in inflight.pods[FIRST]:
        assert emulator.phase(NAMESPACE, name) == "Running", name
        emulator.exit(NAMESPACE, name, 0)


async def stream_end(call: ExecuteCall) -> grpc.StatusCode:
    """Reads the stream to its end, as a client does: gRPC reports the status only then."""
    with contextlib.suppress(aio.AioRpcError):
        while await call.read() is not aio.EOF:
            pass
    code: grpc.StatusCode = await call.code()
    return code
