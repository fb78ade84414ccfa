"""TLS for the gateway: server credentials from PEM files, and the CLI clients' channel.

Server (settings): OTTOSCALER_TLS_CERT and OTTOSCALER_TLS_KEY turn TLS on;
OTTOSCALER_TLS_CLIENT_CA also requires every client to present a certificate it signed.
Clients (test-pipeline, test-scaling): OTTOSCALER_TLS_CA, the CA that signed the server's
certificate, turns TLS on; OTTOSCALER_TLS_CLIENT_CERT and _KEY add a client certificate.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
from grpc import aio

CA_ENV = "OTTOSCALER_TLS_CA"
CLIENT_CERT_ENV = "OTTOSCALER_TLS_CLIENT_CERT"
CLIENT_KEY_ENV = "OTTOSCALER_TLS_CLIENT_KEY"


def server_credentials(
    cert: Path | None, key: Path | None, client_ca: Path | None
) -> grpc.ServerCredentials | None:
    """None without a certificate: the gateway then listens in plaintext."""
    if cert is None or key is None:
        return None
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes() if client_ca else None,
        require_client_auth=client_ca is not None,
    )


def client_channel(address: str) -> aio.Channel:
    """A channel to the gateway: TLS when OTTOSCALER_TLS_CA names a CA file."""
    ca = os.environ.get(CA_ENV)
    if not ca:
        return aio.insecure_channel(address)
    cert, key = os.environ.get(CLIENT_CERT_ENV), os.environ.get(CLIENT_KEY_ENV)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if cert else None,
    )
    return aio.secure_channel(address, credentials)
