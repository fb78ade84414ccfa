"""TLS and mutual TLS on the gateway, with certificates from a throwaway CA."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc import aio
from pydantic import ValidationError

from gateway.app import Running
from gateway.server.tls import CA_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.certs import Pki, make_pki
from tests.gateway.cli_calls import pipeline_list, scaling_status

MUTUAL = pytest.mark.parametrize("mutual", [True])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def mutual() -> bool:
    return False


@pytest.fixture
def settings(settings: Settings, pki: Pki, mutual: bool) -> Settings:
    return settings.model_copy(
        update={
            "ottoscaler_tls_cert": pki.server_cert,
            "ottoscaler_tls_key": pki.server_key,
            "ottoscaler_tls_client_ca": pki.ca if mutual else None,
        }
    )


async def worker_status(channel: aio.Channel) -> pb.WorkerStatusResponse:
    stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
    answer: pb.WorkerStatusResponse = await stub.GetWorkerStatus(
        pb.WorkerStatusRequest(), timeout=10
    )
    return answer


def tls_channel(ottoscaler: Running, pki: Pki, *, client_cert: bool = False) -> aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.client_key.read_bytes() if client_cert else None,
        certificate_chain=pki.client_cert.read_bytes() if client_cert else None,
    )
    return aio.secure_channel(f"127.0.0.1:{ottoscaler.grpc_port}", credentials)


async def test_clients_that_trust_the_ca_get_answers_plaintext_ones_do_not(
    ottoscaler: Running, pki: Pki
) -> None:
    async with tls_channel(ottoscaler, pki) as channel:
        assert (await worker_status(channel)).total_count == 0
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as plain:
        with pytest.raises(aio.AioRpcError) as refused:
            await worker_status(plain)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


@MUTUAL
async def test_mutual_tls_needs_a_client_certificate_from_the_ca(
    ottoscaler: Running, pki: Pki
) -> None:
    async with tls_channel(ottoscaler, pki) as anonymous:
        with pytest.raises(aio.AioRpcError) as refused:
            await worker_status(anonymous)
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    async with tls_channel(ottoscaler, pki, client_cert=True) as known:
        assert (await worker_status(known)).total_count == 0


@MUTUAL
async def test_the_cli_speaks_tls_from_its_environment(ottoscaler: Running, pki: Pki) -> None:
    tls: dict[str, str | None] = {
        CA_ENV: str(pki.ca),
        CLIENT_CERT_ENV: str(pki.client_cert),
        CLIENT_KEY_ENV: str(pki.client_key),
    }
    assert await scaling_status(ottoscaler.grpc_port, tls) == (0, "")
    code, err = await scaling_status(ottoscaler.grpc_port, dict.fromkeys(tls))
    assert code == 1 and "UNAVAILABLE" in err
    assert await pipeline_list(ottoscaler.grpc_port, tls) == (0, "")
    code, err = await pipeline_list(ottoscaler.grpc_port, dict.fromkeys(tls))
    assert code == 3 and "UNAVAILABLE" in err


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="OTTOSCALER_TLS_CERT and OTTOSCALER_TLS_KEY"):
        Settings(ottoscaler_tls_cert=tmp_path / "server.crt")
    with pytest.raises(ValidationError, match="OTTOSCALER_TLS_CLIENT_CA needs"):
        Settings(ottoscaler_tls_client_ca=tmp_path / "ca.crt")


@pytest.mark.parametrize(
    ("runtime", "token", "listens_on"),
    [
        (RuntimeKind.LOCAL, None, "127.0.0.1"),
        (RuntimeKind.LOCAL, "t", "0.0.0.0"),
        (RuntimeKind.KUBERNETES, None, "0.0.0.0"),
    ],
)
def test_the_local_runtime_listens_on_loopback_unless_a_token_is_required(
    runtime: RuntimeKind, token: str | None, listens_on: str
) -> None:
    settings = Settings(
        grpc_host="0.0.0.0", ottoscaler_runtime=runtime, ottoscaler_auth_token=token
    )
    assert settings.grpc_bind_host == listens_on
    # Metrics follow the gateway, never wider, unless METRICS_HOST says otherwise.
    assert settings.metrics_bind_host == listens_on
    assert settings.model_copy(update={"metrics_host": "127.0.0.2"}).metrics_bind_host == (
        "127.0.0.2"
    )
