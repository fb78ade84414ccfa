"""Bearer-token auth over real gRPC: our services need the token; probes and agents (who
prove their worker with its own credential) do not."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import SecretStr

from gateway.app import Running
from gateway.server.auth import (
    MALFORMED,
    MISSING,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    WRONG,
    bearer_metadata,
)
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.cli_calls import pipeline_list, scaling_status
from tests.gateway.test_execute_pipeline import request, stage
from tests.logs.agent_calls import registration

TOKEN = "s3cret-token-of-the-gateway"
GOOD = bearer_metadata(TOKEN)
OPEN = pytest.mark.parametrize("token", [None])
BIN = Path(sys.executable).parent


@pytest.fixture
def token() -> str | None:
    return TOKEN


@pytest.fixture
def settings(settings: Settings, token: str | None, tmp_path: Path) -> Settings:
    secret = SecretStr(token) if token is not None else None
    return settings.model_copy(
        update={"ottoscaler_auth_token": secret, "metrics_port": 0, "ottoscaler_data_dir": tmp_path}
    )


@pytest.fixture
def agents(channel: aio.Channel) -> pb_grpc.LogStreamingServiceAsyncStub:
    return pb_grpc.LogStreamingServiceStub(channel)


def unknown() -> pb.PipelineRef:
    return pb.PipelineRef(pipeline_id="no-such-pipeline")


async def rejection(call: Any) -> aio.AioRpcError:
    """The error a call ended with; it must be UNAUTHENTICATED and never echo a token."""
    with pytest.raises(aio.AioRpcError) as caught:
        await call
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    assert TOKEN not in (err.details() or "")
    return err


async def drain(call: Any) -> list[Any]:
    return [message async for message in call]


async def test_unary_calls_need_the_right_token(stub: pb_grpc.OttoscalerServiceAsyncStub) -> None:
    missing = await rejection(stub.GetPipeline(unknown()))
    assert missing.details() == MISSING
    wrong = await rejection(stub.GetPipeline(unknown(), metadata=bearer_metadata("guess")))
    assert wrong.details() == WRONG
    assert "guess" not in (wrong.details() or "")
    prefix = bearer_metadata(TOKEN[:-1])  # all but the last character is still wrong
    assert (await rejection(stub.GetPipeline(unknown(), metadata=prefix))).details() == WRONG
    basic = (("authorization", f"Basic {TOKEN}"),)
    assert (await rejection(stub.GetPipeline(unknown(), metadata=basic))).details() == MALFORMED
    # The server keeps serving: with the token the call reaches the servicer (NOT_FOUND).
    with pytest.raises(aio.AioRpcError) as reached:
        await stub.GetPipeline(unknown(), metadata=GOOD)
    assert reached.value.code() == grpc.StatusCode.NOT_FOUND
    # The scheme is case-insensitive (RFC 6750).
    lower = (("authorization", f"bearer {TOKEN}"),)
    status = await stub.GetWorkerStatus(pb.WorkerStatusRequest(task_id="none"), metadata=lower)
    assert status.total_count == 0


async def test_a_rejected_stream_starts_nothing_and_the_right_token_runs_it(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(stage("a"), stage("b", "a"))
    await rejection(drain(stub.ExecutePipeline(req)))
    await rejection(drain(stub.ExecutePipeline(req, metadata=bearer_metadata("guess"))))
    # The handler never ran: no pipeline was started.
    with pytest.raises(aio.AioRpcError) as never_started:
        await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id), metadata=GOOD)
    assert never_started.value.code() == grpc.StatusCode.NOT_FOUND
    events = await drain(stub.ExecutePipeline(req, metadata=GOOD))
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)


async def test_agents_prove_their_own_worker_instead_of_the_token(
    agents: pb_grpc.LogStreamingServiceAsyncStub, settings: Settings
) -> None:
    """Workers never hold the token: an agent presents its worker's credential instead."""
    bare = pb.WorkerRegistration(worker_id="agent-a", task_id="t")
    for metadata in ((), GOOD):  # the token is no agent's credential
        refused = await rejection(agents.RegisterWorker(bare, metadata=metadata))
        assert (refused.details() or "").startswith("credential: required")
    token_as_credential = pb.WorkerRegistration(worker_id="agent-a", task_id="t", credential=TOKEN)
    with pytest.raises(aio.AioRpcError) as denied:
        await agents.RegisterWorker(token_as_credential)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert TOKEN not in (denied.value.details() or "")
    answer = await agents.RegisterWorker(registration(settings, "agent-a", "t"))
    assert answer.status == pb.RegistrationResponse.SUCCESS
    entry = pb.LogEntry(worker_id="agent-a", session_id=answer.session_id, message="hello")
    answers = await drain(agents.StreamLogs(iter([entry])))
    assert [a.status for a in answers] == [pb.LogResponse.ACK]


async def test_health_and_reflection_stay_open(channel: aio.Channel) -> None:
    health: Any = health_pb2_grpc.HealthStub(channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]
    listing = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = await drain(reflection.ServerReflectionInfo(iter([listing])))
    names = {s.name for s in responses[0].list_services_response.service}
    assert "ottoscaler.v1.OttoscalerService" in names


@OPEN
async def test_without_a_configured_token_nothing_is_checked(
    stub: pb_grpc.OttoscalerServiceAsyncStub, agents: pb_grpc.LogStreamingServiceAsyncStub
) -> None:
    with pytest.raises(aio.AioRpcError) as reached:
        await stub.GetPipeline(unknown())
    assert reached.value.code() == grpc.StatusCode.NOT_FOUND
    # A token sent anyway is ignored.
    with pytest.raises(aio.AioRpcError) as ignored:
        await stub.GetPipeline(unknown(), metadata=bearer_metadata("anything"))
    assert ignored.value.code() == grpc.StatusCode.NOT_FOUND
    events = await drain(stub.ExecutePipeline(request(stage("a"))))
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_COMPLETED)
    entry = pb.LogEntry(worker_id="agent-b", task_id="t", message="hello")
    answers = await drain(agents.StreamLogs(iter([entry])))
    assert [a.status for a in answers] == [pb.LogResponse.DROP]


async def test_the_cli_sends_the_token_from_its_environment(ottoscaler: Running) -> None:
    assert await scaling_status(ottoscaler.grpc_port, {TOKEN_ENV: TOKEN}) == (0, "")
    code, err = await scaling_status(ottoscaler.grpc_port, {TOKEN_ENV: None})
    assert code == 1
    assert "UNAUTHENTICATED" in err and TOKEN not in err
    assert await pipeline_list(ottoscaler.grpc_port, {TOKEN_ENV: TOKEN}) == (0, "")
    code, err = await pipeline_list(ottoscaler.grpc_port, {TOKEN_ENV: None})
    assert code == 3
    assert "UNAUTHENTICATED" in err and TOKEN not in err


async def test_the_cli_reads_the_token_from_the_file_its_environment_names(
    ottoscaler: Running, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    only_the_file = {TOKEN_ENV: None, TOKEN_FILE_ENV: str(token_file)}
    assert await scaling_status(ottoscaler.grpc_port, only_the_file) == (0, "")


def test_settings_read_the_token_from_its_file_and_refuse_two_sources(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    assert Settings(ottoscaler_auth_token_file=token_file).auth_token == TOKEN
    with pytest.raises(ValueError, match="OTTOSCALER_AUTH_TOKEN and OTTOSCALER_AUTH_TOKEN_FILE"):
        Settings(ottoscaler_auth_token=SecretStr(TOKEN), ottoscaler_auth_token_file=token_file)
    with pytest.raises(ValueError, match=f"OTTOSCALER_AUTH_TOKEN_FILE: cannot read {tmp_path}"):
        Settings(ottoscaler_auth_token_file=tmp_path / "missing")
