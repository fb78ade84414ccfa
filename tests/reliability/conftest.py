"""A factory of `ottoscaler serve` processes sharing one Temporal task queue and one emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from gateway.reaper.schedule import reaper_schedule_id
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.reliability.serve import Launch, Serve, start_serve


@pytest.fixture
def serve_env(
    client: Client, task_queue: str, kube_cluster: KubeCluster, tmp_path: Path
) -> dict[str, str]:
    """What a Deployment would set: the session's Temporal, the emulator as the cluster."""
    kubeconfig = kube_cluster.emulator.write_kubeconfig(tmp_path / "kubeconfig")
    return {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "OTTOSCALER_RUNTIME": "kubernetes",
        "NAMESPACE": NAMESPACE,
        "KUBECONFIG": str(kubeconfig),
        "OTTOSCALER_DATA_DIR": str(tmp_path / "data"),
        "GRPC_HOST": "127.0.0.1",
        "METRICS_PORT": "0",
    }


@pytest.fixture
async def launch(
    serve_env: dict[str, str], tmp_path: Path, client: Client, task_queue: str
) -> AsyncIterator[Launch]:
    """Starts a process per call; each writes its log to tmp_path/serve-N.log."""
    started: list[Serve] = []

    async def start() -> Serve:
        serve = await start_serve(serve_env, tmp_path / f"serve-{len(started)}.log")
        started.append(serve)
        return serve

    try:
        yield start
    finally:
        for serve in started:
            serve.kill()
            await serve.process.wait()
        if started:  # every serve ensures the reaper schedule of its task queue
            await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()
