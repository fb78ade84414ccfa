"""The gRPC server: our services plus health checking and reflection, errors mapped once."""

from __future__ import annotations

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gateway.errors import ErrorInterceptor
from gateway.servicer import OttoscalerServicer
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

SERVICE_NAMES = [pb.DESCRIPTOR.services_by_name["OttoscalerService"].full_name]
AGENT_LOGS_SERVICE = pb.DESCRIPTOR.services_by_name["LogStreamingService"].full_name


async def create_server(
    servicer: OttoscalerServicer,
    host: str,
    port: int,
    agent_logs: pb_grpc.LogStreamingServiceServicer | None = None,
) -> tuple[aio.Server, int]:
    """Starts the server and returns it with the bound port (port 0 picks a free one)."""
    server = aio.server(interceptors=[ErrorInterceptor()])
    pb_grpc.add_OttoscalerServiceServicer_to_server(servicer, server)
    names = list(SERVICE_NAMES)
    if agent_logs is not None:
        pb_grpc.add_LogStreamingServiceServicer_to_server(agent_logs, server)
        names.append(AGENT_LOGS_SERVICE)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound
