"""Errors → gRPC status codes, in one place, for unary and streaming handlers alike.

Servicers raise GatewayError subclasses (or let SpecError and Temporal's RPCError
through); the interceptor turns them into the right status with a message that names
the field. Temporal out of reach, too busy or too slow to answer in time is UNAVAILABLE
(`temporal_transient` says which errors those are; streams retry them first). Anything
else is a bug: INTERNAL, logged with its traceback.
"""

from __future__ import annotations

import logging

import grpc
from temporalio.service import RPCError, RPCStatusCode

from activities.logs.store import ArchiveUnavailable
from workflows.base.checks import SpecError

log = logging.getLogger(__name__)


class GatewayError(Exception):
    code = grpc.StatusCode.INTERNAL


class InvalidArgument(GatewayError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(GatewayError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(GatewayError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(GatewayError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(GatewayError):
    code = grpc.StatusCode.UNAVAILABLE


class FailedPrecondition(GatewayError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(GatewayError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(GatewayError):
    code = grpc.StatusCode.PERMISSION_DENIED


_TEMPORAL_CODES = {
    RPCStatusCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED: grpc.StatusCode.UNAVAILABLE,
    # How the Temporal client reports a call that outlived its own timeout ("Timeout expired").
    RPCStatusCode.CANCELLED: grpc.StatusCode.UNAVAILABLE,
    RPCStatusCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    RPCStatusCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}
# Temporal's answer to a query that no worker picked up before its deadline.
_NO_POLLER = "no poller seen"


def temporal_transient(err: BaseException) -> bool:
    """Whether Temporal failed to answer for now (unreachable, overloaded, too slow, or
    without a worker to answer a query), so that the same call may succeed later."""
    if isinstance(err, RPCError):
        no_worker = err.status is RPCStatusCode.FAILED_PRECONDITION and _NO_POLLER in err.message
        return err.status in _TRANSIENT or no_worker
    return isinstance(err, ConnectionError | TimeoutError)


def status_for(err: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(err, GatewayError):
        return err.code, str(err)
    if isinstance(err, SpecError):
        return grpc.StatusCode.INVALID_ARGUMENT, str(err)
    if isinstance(err, RPCError) and err.status in _TEMPORAL_CODES:
        return _TEMPORAL_CODES[err.status], f"temporal: {err.message}"
    if isinstance(err, ArchiveUnavailable):
        return grpc.StatusCode.UNAVAILABLE, f"{err}; try again (logs resume at from_sequence)"
    if isinstance(err, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED, str(err) or "not implemented yet"
    if temporal_transient(err):
        return grpc.StatusCode.UNAVAILABLE, f"temporal did not answer: {err}"
    log.exception("internal error", exc_info=err)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(err).__name__}: {err}"
