"""Operators' probes: gRPC health checking and server reflection answer."""

from __future__ import annotations

from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gateway.app import Running


async def test_health_reports_serving(ottoscaler: Running) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        # The typeshed stubs describe these stubs on sync channels only.
        health: Any = health_pb2_grpc.HealthStub(channel)
        for service in ("", "ottoscaler.v1.OttoscalerService"):
            answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_watch_streams_the_status(ottoscaler: Running) -> None:
    """Watch is a coroutine that writes its stream itself: the interceptors keep it so."""
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        first = await watch.read()
        watch.cancel()
    assert first.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_the_services(ottoscaler: Running) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{ottoscaler.grpc_port}") as channel:
        stub: Any = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[arg-type]
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert "ottoscaler.v1.OttoscalerService" in names
    assert "grpc.health.v1.Health" in names
