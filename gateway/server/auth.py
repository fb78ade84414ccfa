"""Bearer-token authentication: with OTTOSCALER_AUTH_TOKEN (or _FILE) set, every call carries it.

A call must send metadata `authorization: Bearer <token>`; without it, or with another
token, it ends UNAUTHENTICATED before any handler runs. Health checking and reflection
stay open: kubelet probes and grpcurl send no token, and neither tells more than the
service names and the proto. So do agents' LogStreamingService calls: workers never hold
the token, and agents prove their own worker's identity instead (gateway/logs/agents.py).
Without a token configured nothing is checked.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path
from typing import Any

import grpc
from grpc import aio
from grpc_health.v1 import health
from grpc_reflection.v1alpha import reflection

from gateway.server.interceptors import Behaviour, Continuation, Handler, rewrap
from ottoscaler.v1 import ottoscaler_pb2 as pb

TOKEN_ENV = "OTTOSCALER_AUTH_TOKEN"
TOKEN_FILE_ENV = "OTTOSCALER_AUTH_TOKEN_FILE"
AGENT_LOGS_SERVICE = pb.DESCRIPTOR.services_by_name["LogStreamingService"].full_name
OPEN_SERVICES = frozenset({health.SERVICE_NAME, reflection.SERVICE_NAME, AGENT_LOGS_SERVICE})
MISSING = "missing bearer token: send metadata 'authorization: Bearer <token>'"
MALFORMED = "malformed authorization metadata: expected 'Bearer <token>'"
WRONG = "wrong bearer token"

Metadata = tuple[tuple[str, str], ...]


def bearer_metadata(token: str) -> Metadata:
    """A client's call metadata carrying the token; none when the token is empty."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def metadata_from_env() -> Metadata:
    """For the CLI clients: the token in OTTOSCALER_AUTH_TOKEN, else in the file that
    OTTOSCALER_AUTH_TOKEN_FILE names, as the server reads them."""
    token = os.environ.get(TOKEN_ENV, "")
    token_file = os.environ.get(TOKEN_FILE_ENV, "")
    if not token and token_file:
        token = Path(token_file).read_text().strip()
    return bearer_metadata(token)


def _service(method: str) -> str:
    """'/grpc.health.v1.Health/Check' -> 'grpc.health.v1.Health'."""
    return method.lstrip("/").partition("/")[0]


def _denial(message: str) -> Behaviour:
    # A coroutine that aborts serves every kind: streaming handlers may be coroutines too.
    async def deny(request: Any, context: aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return deny


class BearerAuthInterceptor(aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def problem(self, metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
        """Why the call's metadata does not authenticate it; None when it does."""
        values = [value for key, value in metadata or () if key == "authorization"]
        if not values:
            return MISSING
        value = values[0]
        scheme, _, credential = value.partition(" ") if isinstance(value, str) else ("", "", "")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return MALFORMED
        # Constant time, so the answer's timing does not reveal how much of a guess matched.
        if not hmac.compare_digest(credential.encode(), self._token):
            return WRONG
        return None

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or _service(handler_call_details.method) in OPEN_SERVICES:
            return handler
        problem = self.problem(handler_call_details.invocation_metadata)
        if problem is None:
            return handler
        # The call's own handler is replaced whole: an unauthenticated call never reaches it.
        return rewrap(handler, lambda _, __: _denial(problem))
