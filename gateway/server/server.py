"""The gRPC server: our services plus health checking and reflection, errors mapped once.

Every call goes through the interceptors in this order: metrics (so rejected calls count
too), the bearer token when one is set (so unauthenticated calls never reach a handler;
agents authenticate with their worker's credential instead), the error mapping, then the
Temporal gate (outage.py) when Temporal's reachability is watched. Health follows that
reachability too, but for the name `liveness`.
"""

from __future__ import annotations

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import Tracer

from gateway.server.auth import AGENT_LOGS_SERVICE, BearerAuthInterceptor
from gateway.server.errors import ErrorInterceptor
from gateway.server.metrics import Metrics, MetricsInterceptor
from gateway.server.outage import LIVENESS, Dependency, TemporalGate, health_follows
from gateway.server.servicer import OttoscalerServicer
from gateway.server.tracing import TracingInterceptor
from gateway.temporal.reachability import Reachability
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

SERVICE_NAMES = [pb.DESCRIPTOR.services_by_name["OttoscalerService"].full_name]


async def create_server(
    servicer: OttoscalerServicer,
    host: str,
    port: int,
    agent_logs: pb_grpc.LogStreamingServiceServicer | None = None,
    auth_token: str | None = None,
    metrics: Metrics | None = None,
    credentials: grpc.ServerCredentials | None = None,
    temporal: Reachability | None = None,
    database: Dependency | None = None,
    tracer: Tracer | None = None,
) -> tuple[aio.Server, int]:
    """Starts the server and returns it with the bound port (port 0 picks a free one).

    auth_token: the bearer token every call but health and reflection must carry; None or
    empty: no check. metrics: where calls are counted; None: nowhere. credentials: TLS
    (gateway/server/tls.py); None: plaintext. temporal: Temporal's reachability, which
    health and the gate follow; database: the log database's, which health follows;
    None: always SERVING. tracer: where each call's span goes (gateway/server/tracing.py);
    None: no spans.
    """
    interceptors: list[aio.ServerInterceptor] = []
    if tracer is not None:  # first: the span covers the checks and the count too
        interceptors.append(TracingInterceptor(tracer))
    if metrics is not None:
        interceptors.append(MetricsInterceptor(metrics))
    if auth_token:
        interceptors.append(BearerAuthInterceptor(auth_token))
    interceptors.append(ErrorInterceptor())
    if temporal is not None:
        interceptors.append(TemporalGate(temporal))
    # gRPC's default SO_REUSEPORT would let a second Ottoscaler share the port with the
    # first, each answering some of the calls: a port in use must fail the bind instead.
    server = aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
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
    address = f"{host}:{port}"
    if credentials is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    for name in ["", LIVENESS, *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    dependencies = [d for d in (temporal, database) if d is not None]
    await health_follows(health_servicer, dependencies, ["", *SERVICE_NAMES])
    return server, bound
