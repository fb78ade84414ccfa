"""The k8s.mk targets, run by make on a machine without docker, kind and kubectl.

Without the tools every target must stop at once, naming each missing tool and how to
install it. With stand-ins for them (scripts that record how they were called) the
targets must call them for the right cluster, context and namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize import Manifest, render

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
REAL_KUBECTL = shutil.which("kubectl")
TOOLS = ("docker", "kind", "kubectl")
INSTALL_HINTS = {
    "docker": "https://docs.docker.com/engine/install/",
    "kind": "https://kind.sigs.k8s.io/docs/user/quick-start/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
}
NEEDS = {
    "setup-user": {"docker", "kind", "kubectl"},
    "build": {"docker", "kind"},
    "deploy": {"kubectl"},
    "undeploy": {"kubectl"},
    "logs": {"kubectl"},
    "status": {"kubectl"},
    "k8s-status": {"kubectl"},
    "port-forward": {"kubectl"},
    "k8s-clean": {"kind"},
}
CONTEXT = "kind-ottoscaler-hanjinwoo"
NAMESPACE = "hanjinwoo-dev"

# Each stand-in appends its command line to $FAKE_TOOLS_LOG.
FAKE_TOOLS = {
    "kind": """
        if [ "$1 $2" = "get clusters" ]; then printf '%s\\n' $FAKE_KIND_CLUSTERS; fi
    """,
    "docker": """
        if [ "$1" = info ] && [ -n "$FAKE_DOCKER_ENGINE_DOWN" ]; then
          echo "Cannot connect to the Docker daemon" >&2; exit 1
        fi
    """,
    "kubectl": """
        if [ -n "$FAKE_KUBECTL_SECONDS" ]; then sleep "$FAKE_KUBECTL_SECONDS"; fi
    """,
}


@pytest.fixture(scope="module")
def tool_free_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH with every program of this machine except docker, kind and kubectl."""
    directory = tmp_path_factory.mktemp("bin")
    for entry in os.environ["PATH"].split(os.pathsep):
        folder = Path(entry)
        if not folder.is_dir():
            continue
        for program in folder.iterdir():
            link = directory / program.name
            if program.name not in TOOLS and not link.exists() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return str(directory)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout-like folder: make writes build/ here instead of in the repository."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("k8s", "gateway"):
        (work / name).symlink_to(REPO / name)
    return work


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    directory = tmp_path / "fakes"
    directory.mkdir()
    for tool, behaviour in FAKE_TOOLS.items():
        script = directory / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "$FAKE_TOOLS_LOG"\n{behaviour}\n')
        script.chmod(0o755)
    return directory


def make(
    target: str,
    workdir: Path,
    path: str,
    *,
    user: str | None = "한진우",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    assert MAKE is not None, "make is needed to run the Makefile targets"
    command = [MAKE, "--no-print-directory", "-f", str(REPO / "k8s.mk"), target]
    command.append(f"K8S_PYTHON={sys.executable}")
    if user is not None:
        command.append(f"USER={user}")
    environment = {"PATH": path, "FAKE_TOOLS_LOG": str(workdir / "calls.log"), **(env or {})}
    return subprocess.run(
        command,
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def calls(workdir: Path) -> list[str]:
    log = workdir / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("target", sorted(NEEDS))
def test_without_the_tools_every_target_stops_naming_what_to_install(
    target: str, workdir: Path, tool_free_path: str
) -> None:
    done = make(target, workdir, tool_free_path)
    assert done.returncode != 0
    for tool in TOOLS:
        missing = f"error: '{tool}' is not installed or not on PATH" in done.stderr
        assert missing == (tool in NEEDS[target]), (tool, done.stderr)
        assert (INSTALL_HINTS[tool] in done.stderr) == (tool in NEEDS[target])
    assert not (workdir / "build").exists()


@pytest.mark.parametrize("target", ["setup-user", "build"])
def test_a_docker_client_without_a_running_engine_is_reported(
    target: str, workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    path = f"{fakes}{os.pathsep}{tool_free_path}"
    done = make(target, workdir, path, env={"FAKE_DOCKER_ENGINE_DOWN": "1"})
    assert done.returncode != 0
    assert "docker is installed but its engine is not running" in done.stderr
    assert calls(workdir) == ["docker info"]


def test_setup_user_creates_the_cluster_and_namespace_of_a_korean_name(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    done = make("setup-user", workdir, f"{fakes}{os.pathsep}{tool_free_path}")
    assert done.returncode == 0, done.stderr
    made = calls(workdir)
    assert made[:3] == [
        "docker info",
        "kind get clusters",
        "kind create cluster --name ottoscaler-hanjinwoo --wait 120s",
    ]
    # The namespace is applied through a pipe, whose two ends run at the same time.
    assert sorted(made[3:]) == [
        f"kubectl --context {CONTEXT} apply --filename=-",
        f"kubectl --context {CONTEXT} create namespace {NAMESPACE} --dry-run=client --output=yaml",
    ]
    assert f"namespace {NAMESPACE}" in done.stdout


def test_setup_user_again_keeps_the_existing_cluster(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    path = f"{fakes}{os.pathsep}{tool_free_path}"
    done = make(
        "setup-user", workdir, path, env={"FAKE_KIND_CLUSTERS": "other ottoscaler-hanjinwoo"}
    )
    assert done.returncode == 0, done.stderr
    assert not any(call.startswith("kind create") for call in calls(workdir))
    assert "kind cluster ottoscaler-hanjinwoo exists already" in done.stdout


@pytest.mark.parametrize(
    ("user", "reason"),
    [("李明", "'李' is neither an ASCII letter"), (None, "the name is empty; pass USER=")],
)
def test_setup_user_rejects_a_name_that_cannot_name_a_cluster(
    user: str | None, reason: str, workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    done = make("setup-user", workdir, f"{fakes}{os.pathsep}{tool_free_path}", user=user)
    assert done.returncode != 0
    assert reason in done.stderr
    assert calls(workdir) == ["docker info"], "nothing may be created"


def test_build_loads_the_image_that_the_kind_overlay_runs(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    deployment = next(
        obj for obj in render(REPO / "k8s" / "overlays" / "kind") if obj["kind"] == "Deployment"
    )
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    done = make("build", workdir, f"{fakes}{os.pathsep}{tool_free_path}")
    assert done.returncode == 0, done.stderr
    assert calls(workdir) == [
        "docker info",
        f"docker build --tag {image} .",
        f"kind load docker-image {image} --name ottoscaler-hanjinwoo",
    ]


def deployed_overlay(workdir: Path, tool_free_path: str, fakes: Path) -> Path:
    done = make("deploy", workdir, f"{fakes}{os.pathsep}{tool_free_path}")
    assert done.returncode == 0, done.stderr
    overlay = f"build/k8s/{NAMESPACE}"
    assert calls(workdir) == [
        f"kubectl --context {CONTEXT} apply --kustomize {overlay}",
        f"kubectl --context {CONTEXT} --namespace {NAMESPACE} rollout status "
        "deployment/postgres --timeout=180s",
        f"kubectl --context {CONTEXT} --namespace {NAMESPACE} rollout status "
        "deployment/temporal --timeout=180s",
        f"kubectl --context {CONTEXT} --namespace {NAMESPACE} rollout status "
        "deployment/ottoscaler --timeout=180s",
    ]
    return workdir / overlay


def test_deploy_puts_the_kind_overlay_in_the_users_namespace(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    objects = render(deployed_overlay(workdir, tool_free_path, fakes))

    def names(rendered: list[Manifest]) -> set[tuple[str, str]]:
        return {(obj["kind"], obj["metadata"]["name"]) for obj in rendered}

    assert names(objects) == names(render(REPO / "k8s" / "overlays" / "kind"))
    assert {obj["metadata"]["namespace"] for obj in objects} == {NAMESPACE}
    by_kind = {obj["kind"]: obj for obj in objects if obj["metadata"]["name"].startswith("otto")}
    # Worker pods are created where the Role grants, by the account bound in this namespace.
    assert by_kind["ConfigMap"]["data"]["NAMESPACE"] == NAMESPACE
    assert by_kind["RoleBinding"]["subjects"][0]["namespace"] == NAMESPACE


@pytest.mark.skipif(REAL_KUBECTL is None, reason="kubectl (with kustomize) is absent")
def test_the_deployed_overlay_renders_the_same_with_kubectl_kustomize(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    overlay = deployed_overlay(workdir, tool_free_path, fakes)
    assert REAL_KUBECTL is not None
    output = subprocess.run(
        [REAL_KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    expected = [doc for doc in yaml.safe_load_all(output) if doc is not None]

    def key(obj: Manifest) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    assert sorted(render(overlay), key=key) == sorted(expected, key=key)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("undeploy", [f"delete --kustomize build/k8s/{NAMESPACE} --ignore-not-found"]),
        # Every replica's log, not one picked by kubectl.
        (
            "logs",
            [
                "logs --selector=app.kubernetes.io/name=ottoscaler --container=ottoscaler "
                "--prefix --follow --tail=200"
            ],
        ),
        (
            "status",
            [
                "get deployments,pods,services --selector=app.kubernetes.io/part-of=otto",
                "get pods --selector=managed-by=ottoscaler",
            ],
        ),
        ("k8s-status", ["cluster-info", "get nodes", "get all,configmaps", "get events"]),
    ],
)
def test_kubectl_targets_touch_only_the_users_kind_context(
    target: str, expected: list[str], workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    done = make(target, workdir, f"{fakes}{os.pathsep}{tool_free_path}")
    assert done.returncode == 0, done.stderr
    made = calls(workdir)
    assert len(made) == len(expected)
    for call, part in zip(made, expected, strict=True):
        assert call.startswith(f"kubectl --context {CONTEXT} "), call
        assert part in call


def test_port_forward_forwards_grpc_and_the_web_ui_and_stops_when_one_fails(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    # Both stand-ins stop after a moment, as a real port-forward does when its pod goes.
    path = f"{fakes}{os.pathsep}{tool_free_path}"
    done = make("port-forward", workdir, path, env={"FAKE_KUBECTL_SECONDS": "0.5"})
    assert done.returncode != 0
    assert "a port-forward stopped" in done.stderr
    prefix = f"kubectl --context {CONTEXT} --namespace {NAMESPACE} port-forward"
    assert sorted(calls(workdir)) == [
        f"{prefix} service/ottoscaler 9090:9090",
        f"{prefix} service/temporal 8233:8233",
    ]


def test_k8s_clean_deletes_only_the_users_cluster(
    workdir: Path, tool_free_path: str, fakes: Path
) -> None:
    deployed_overlay(workdir, tool_free_path, fakes)
    (workdir / "calls.log").unlink()
    done = make("k8s-clean", workdir, f"{fakes}{os.pathsep}{tool_free_path}")
    assert done.returncode == 0, done.stderr
    assert calls(workdir) == ["kind delete cluster --name ottoscaler-hanjinwoo"]
    assert not (workdir / "build" / "k8s" / NAMESPACE).exists()
