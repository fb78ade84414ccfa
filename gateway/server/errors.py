"""The error interceptor: every handler's exception becomes its gRPC status, streams included
(gateway/errors.py decides which status)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from grpc import aio

from gateway.errors import status_for
from gateway.server.interceptors import Context, Continuation, Handler, rewrap, within


@asynccontextmanager
async def _mapping_errors(context: Context) -> AsyncIterator[None]:
    try:
        yield
    except aio.AbortError:
        raise
    except Exception as err:
        code, message = status_for(err)
        await context.abort(code, message)


class ErrorInterceptor(aio.ServerInterceptor):
    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return rewrap(
            handler, lambda behaviour, streams: within(behaviour, streams, _mapping_errors)
        )
