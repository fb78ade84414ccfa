"""Worker pods' ownerReference: Ottoscaler's own ReplicaSet in a cluster, or a configured owner."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Unpack

import pytest

from activities.runtimes.kubernetes.bodies import ObjectMeta, OwnerReference
from activities.runtimes.kubernetes.owner import controller_of, parse_owner
from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.runtimes.protocol import WorkerNotFound
from tests.kube.fixtures import DEFAULT_IMAGE, NAMESPACE, TEST_TUNING, KubeCluster
from workflows.workers.spec import WorkerSpec

REPLICA_SET: OwnerReference = {
    "apiVersion": "apps/v1",
    "kind": "ReplicaSet",
    "name": "ottoscaler-7d9f8c",
    "uid": "6f1c9a4e-rs",
}
SELF = "ottoscaler-7d9f8c-x2x4q"


def ref(**extra: Unpack[OwnerReference]) -> OwnerReference:
    return {**REPLICA_SET, **extra}


@pytest.mark.parametrize(
    ("text", "owner"),
    [
        ("apps/v1/Deployment/ottoscaler/u-1", ("apps/v1", "Deployment", "ottoscaler", "u-1")),
        ("v1/ConfigMap/otto-owner/u-2", ("v1", "ConfigMap", "otto-owner", "u-2")),
    ],
)
def test_a_configured_owner_reads_like_a_resource_path(
    text: str, owner: tuple[str, str, str, str]
) -> None:
    assert parse_owner(text) == dict(zip(("apiVersion", "kind", "name", "uid"), owner, strict=True))


@pytest.mark.parametrize("text", ["Deployment/ottoscaler/u-1", "apps/v1/Deployment//u-1", "x"])
def test_a_malformed_owner_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match=r"OTTOSCALER_OWNER=.*<apiVersion>/<kind>/<name>/<uid>"):
        parse_owner(text)


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        ([ref(controller=True, blockOwnerDeletion=True)], REPLICA_SET),
        ([ref(kind="Node", controller=False), ref(controller=True)], REPLICA_SET),
        ([ref()], None),
        ([ref(controller=True, uid="")], None),
        (None, None),
    ],
    ids=["controller", "among-others", "not-a-controller", "incomplete", "bare-pod"],
)
def test_the_owner_is_the_controller_of_ottoscalers_pod(
    refs: list[OwnerReference] | None, expected: OwnerReference | None
) -> None:
    metadata: ObjectMeta = {} if refs is None else {"ownerReferences": refs}
    assert controller_of({"metadata": metadata}) == expected


@pytest.fixture
def in_cluster(
    kube_cluster: KubeCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> KubeCluster:
    """Ottoscaler's own pod, made by its ReplicaSet, and the downward-API environment."""
    pod = {
        "metadata": {"name": SELF, "ownerReferences": [ref(controller=True)]},
        "spec": {"containers": [{"name": "ottoscaler", "image": "ottoscaler:dev"}]},
    }
    kube_cluster.emulator.store.create(NAMESPACE, pod)
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.emulator.write_kubeconfig(tmp_path / "k")))
    monkeypatch.setenv("POD_NAME", SELF)
    monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
    return kube_cluster


async def owners_of_a_worker(cluster: KubeCluster, owner: str = "") -> Any:
    runtime = KubernetesRuntime.from_environment(
        NAMESPACE, DEFAULT_IMAGE, owner=owner, tuning=TEST_TUNING
    )
    try:
        await runtime.create(WorkerSpec(name="w", env={"FAKE_DURATION": "60"}))
    finally:
        await runtime.close()
    pod = cluster.emulator.pod(NAMESPACE, "w")
    assert pod is not None
    return pod["metadata"].get("ownerReferences")


async def test_in_a_cluster_workers_are_owned_by_ottoscalers_replicaset(
    in_cluster: KubeCluster,
) -> None:
    # Neither controller (the ReplicaSet would disown them) nor blockOwnerDeletion (no RBAC).
    assert await owners_of_a_worker(in_cluster) == [REPLICA_SET]


async def test_a_configured_owner_wins(in_cluster: KubeCluster) -> None:
    owners = await owners_of_a_worker(in_cluster, "apps/v1/Deployment/ottoscaler/u-1")
    assert owners == [parse_owner("apps/v1/Deployment/ottoscaler/u-1")]


async def test_outside_a_cluster_workers_have_no_owner(
    in_cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POD_NAME")
    assert await owners_of_a_worker(in_cluster) is None


async def test_no_owner_from_another_namespace_which_would_get_workers_collected(
    in_cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "elsewhere")
    assert await owners_of_a_worker(in_cluster) is None


async def test_a_missing_own_pod_stops_the_start(
    in_cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POD_NAME", "not-me")
    with pytest.raises(WorkerNotFound, match="'not-me'"):
        KubernetesRuntime.from_environment(NAMESPACE, DEFAULT_IMAGE, tuning=TEST_TUNING)
