"""What each Temporal error becomes on the wire: Temporal down, overloaded or too slow is
UNAVAILABLE, never INTERNAL (the streams' own retries are in test_stream_patience.py)."""

from __future__ import annotations

import grpc
import pytest
from temporalio.service import RPCError, RPCStatusCode

from gateway.errors import status_for


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (RPCStatusCode.UNAVAILABLE, "tcp connect error", grpc.StatusCode.UNAVAILABLE),
        (RPCStatusCode.DEADLINE_EXCEEDED, "deadline exceeded", grpc.StatusCode.UNAVAILABLE),
        # The Temporal client's own timeout of a call.
        (RPCStatusCode.CANCELLED, "Timeout expired", grpc.StatusCode.UNAVAILABLE),
        # A query that no worker picked up before its deadline.
        (
            RPCStatusCode.FAILED_PRECONDITION,
            "no poller seen for task queue recently, worker may be down",
            grpc.StatusCode.UNAVAILABLE,
        ),
        (RPCStatusCode.NOT_FOUND, "workflow not found", grpc.StatusCode.NOT_FOUND),
        (RPCStatusCode.RESOURCE_EXHAUSTED, "rate limited", grpc.StatusCode.RESOURCE_EXHAUSTED),
        (RPCStatusCode.FAILED_PRECONDITION, "something else", grpc.StatusCode.INTERNAL),
    ],
)
def test_temporal_errors_map_to_their_grpc_codes(
    status: RPCStatusCode, message: str, code: grpc.StatusCode
) -> None:
    answer, details = status_for(RPCError(message, status, b""))
    assert answer == code
    assert message in details
