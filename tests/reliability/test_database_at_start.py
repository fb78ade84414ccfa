"""`ottoscaler serve` started while its database is down: it does not exit. It serves
health (NOT_SERVING overall, `liveness` SERVING), says once in its log that it waits for
the database (naming its host, never its password), and once the database answers it
migrates the schema and serves: a pipeline's lines are archived and readable."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client

from gateway.reaper.schedule import reaper_schedule_id
from gateway.server.outage import LIVENESS
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import by_pod, collect, printed
from tests.postgres import RestartablePostgres
from tests.reliability.serve import Serve, start_serve
from tests.waiting import eventually

LINES = 30
PASSWORD = "not-to-be-logged"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def serve_without_database(
    serve_env: dict[str, str],
    restartable_postgres: RestartablePostgres,
    tmp_path: Path,
    client: Client,
    task_queue: str,
) -> AsyncIterator[Serve]:
    await restartable_postgres.stop()
    # The server trusts its socket: the password is there only to show it is never logged.
    url = restartable_postgres.url.replace("postgres:@", f"postgres:{PASSWORD}@", 1)
    env = {**serve_env, "OTTOSCALER_DATABASE_URL": url}
    serve = await start_serve(env, tmp_path / "serve.log")
    try:
        yield serve
    finally:
        serve.kill()
        await serve.process.wait()
        await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()


async def test_a_replica_waits_for_its_database_then_serves(
    serve_without_database: Serve, restartable_postgres: RestartablePostgres
) -> None:
    serve = serve_without_database
    async with aio.insecure_channel(serve.address) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs carry no types

        async def status(service: str) -> int:
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            return int(answer.status)

        assert await status("") == NOT_SERVING
        assert await status(LIVENESS) == SERVING
        waits = [line for line in serve.log.read_text().splitlines() if "waiting for" in line]
        assert len(waits) == 1, waits
        assert restartable_postgres.socket_dir in waits[0]
        assert PASSWORD not in serve.log.read_text()

        await restartable_postgres.start()

        async def serving() -> bool:
            return await status("") == SERVING

        await eventually(serving, within=60)
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        request = pb.PipelineRequest(
            pipeline_id=f"db-{uuid.uuid4().hex[:8]}",
            repository="otto/demo",
            stages=[
                pb.PipelineStage(
                    stage_id="build",
                    type="test",
                    config={"FAKE_LINES": str(LINES), "FAKE_DURATION": "1"},
                )
            ],
        )
        progress = await collect(stub.ExecutePipeline(request))
        assert progress[-1].status == pb.STAGE_COMPLETED
        logs = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id)
        pods = by_pod(await collect(stub.StreamWorkerLogs(logs)))
    assert list(pods.values()) == [printed(LINES)]
    assert serve.process.returncode is None
    assert serve.logged_errors() == []
