"""Concurrent ScaleUps to two replicas never pass MAX_WORKERS together: both watch one
Kubernetes API (the emulator) and share the limit through one PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from grpc import aio
from pydantic import SecretStr
from temporalio.client import Client

from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from gateway.app import running_ottoscaler
from gateway.reaper.schedule import reaper_schedule_id
from gateway.settings import RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import DEFAULT_IMAGE, NAMESPACE, TEST_TUNING, KubeCluster
from tests.pools.calls import Stub, new_task, scale_request

MAX_WORKERS = 5
SIGNING_KEY = "the replicas' own"


@pytest.fixture
async def stubs(
    client: Client, task_queue: str, kube_cluster: KubeCluster, database_url: str, tmp_path: Path
) -> AsyncIterator[list[Stub]]:
    async with AsyncExitStack() as stack:
        found: list[Stub] = []
        for name in ("a", "b"):
            settings = Settings(
                grpc_port=0,
                temporal_task_queue=task_queue,
                ottoscaler_runtime=RuntimeKind.KUBERNETES,
                namespace=NAMESPACE,
                ottoscaler_data_dir=tmp_path / name,
                ottoscaler_database_url=database_url,
                max_workers=MAX_WORKERS,
                # Replicas sign and check each other's work with one key.
                ottoscaler_signing_key=SecretStr(SIGNING_KEY),
            )
            runtime = KubernetesRuntime(
                NAMESPACE, DEFAULT_IMAGE, kube_cluster.api, tuning=TEST_TUNING
            )
            # A client each, as replicas have: one client takes one worker per queue.
            own = await Client.connect(
                client.service_client.config.target_host, data_converter=client.data_converter
            )
            running = await stack.enter_async_context(running_ottoscaler(settings, own, runtime))
            channel = await stack.enter_async_context(
                aio.insecure_channel(f"127.0.0.1:{running.grpc_port}")
            )
            found.append(pb_grpc.OttoscalerServiceStub(channel))
        try:
            yield found
        finally:
            await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()


async def test_concurrent_scale_ups_to_two_replicas_never_pass_the_limit(
    stubs: list[Stub], kube_cluster: KubeCluster
) -> None:
    requests = [scale_request(new_task(), 2, FAKE_DURATION="600") for _ in range(6)]
    answers = await asyncio.gather(
        *(stubs[n % 2].ScaleUp(request) for n, request in enumerate(requests)),
        return_exceptions=True,
    )
    granted = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, aio.AioRpcError)]
    assert len(granted) + len(refused) == len(requests), answers
    assert all(r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refused)
    assert all("MAX_WORKERS=5" in str(r.details()) for r in refused)
    assert len(granted) == MAX_WORKERS // 2  # two of 2 fit in 5; a third would pass it
    assert len(kube_cluster.emulator.pods(NAMESPACE)) == 2 * len(granted) <= MAX_WORKERS
