"""Server interceptors' common shape: the same kind of method handler around new behaviour.

A grpc.aio interceptor that changes what a method does has to rebuild the handler for the
method's kind (one response or a stream, one request or a stream), keeping its
(de)serializers. `rewrap` does that once for auth.py, metrics.py and errors.py beside
this file; `within` runs a behaviour, of either shape, inside a scope.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeAlias

import grpc
from grpc import aio

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"
# A method's behaviour: (request or request iterator, context) -> a response, or responses.
Behaviour: TypeAlias = Callable[..., Any]
Context: TypeAlias = "aio.ServicerContext[Any, Any]"
# What runs around a whole call, given its context: entered before, exited after the last
# response (with the exception the call ended with, if any).
Scope: TypeAlias = Callable[[Context], AbstractAsyncContextManager[None]]


def rewrap(handler: Handler, wrap: Callable[[Behaviour, bool], Behaviour]) -> Handler:
    """The handler, same kind and (de)serializers, with wrap(behaviour, streams) as its
    behaviour; streams tells whether the method answers with a stream."""
    deserialize, serialize = handler.request_deserializer, handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap(handler.unary_unary, False),
            request_deserializer=deserialize,
            response_serializer=serialize,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap(handler.unary_stream, True),
            request_deserializer=deserialize,
            response_serializer=serialize,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap(handler.stream_unary, False),
            request_deserializer=deserialize,
            response_serializer=serialize,
        )
    if handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(
            wrap(handler.stream_stream, True),
            request_deserializer=deserialize,
            response_serializer=serialize,
        )
    return handler


def within(behaviour: Behaviour, streams: bool, scope: Scope) -> Behaviour:
    """behaviour run inside scope(context); for a stream, until its last message has gone.

    A stream's behaviour returns an async iterator (our servicers), or is a coroutine that
    writes its responses itself (health's Watch): each keeps its shape."""
    if streams and not inspect.iscoroutinefunction(behaviour):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with scope(context):
                async for response in behaviour(request, context):
                    yield response

        return stream

    async def call(request: Any, context: Context) -> Any:
        async with scope(context):
            return await behaviour(request, context)

    return call
