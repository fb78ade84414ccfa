"""Pytest fixtures: a fresh emulator + kubelet per test, the real client, the real runtime.

Register with `pytest_plugins = ["tests.kube.fixtures"]` in tests/conftest.py. Then:

    async def test_x(kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime) -> None:
        await kube_runtime.create(WorkerSpec(name="w", env={"FAKE_DURATION": "0.1"}))
        kube_cluster.emulator.fail_next("DELETE", r"/pods/w$", 500)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import NamedTuple

import pytest
from kubernetes.client import ApiClient

from activities.runtimes.kubernetes.runtime import KubernetesRuntime, KubeTuning
from tests.kube.emulator import KubeEmulator

NAMESPACE = "ottoscaler-test"
DEFAULT_IMAGE = "busybox:latest"
# Short enough that fail-fast and retry paths finish in a fraction of a second.
TEST_TUNING = KubeTuning(
    image_pull_grace_seconds=0.3,
    watch_timeout_seconds=5,
    watch_retries=3,
    retry_backoff_seconds=0.05,
    max_backoff_seconds=0.5,
    delete_grace_seconds=0,
)


class KubeCluster(NamedTuple):
    emulator: KubeEmulator
    api: ApiClient


@pytest.fixture
def kube_cluster() -> Iterator[KubeCluster]:
    """The emulator with its fake kubelet running, and a real ApiClient aimed at it."""
    with KubeEmulator() as emulator:
        api = emulator.api_client()
        try:
            yield KubeCluster(emulator, api)
        finally:
            api.close()  # type: ignore[no-untyped-call]


@pytest.fixture
async def kube_runtime(kube_cluster: KubeCluster) -> AsyncIterator[KubernetesRuntime]:
    """A KubernetesRuntime on NAMESPACE of kube_cluster, with TEST_TUNING."""
    runtime = KubernetesRuntime(NAMESPACE, DEFAULT_IMAGE, kube_cluster.api, tuning=TEST_TUNING)
    try:
        yield runtime
    finally:
        await runtime.close()
