"""The pod manifest built from a WorkerSpec (activities/runtimes/kubernetes/pods.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.runtimes.kubernetes.bodies import Container, Pod
from activities.runtimes.kubernetes.pods import build_pod
from workflows.workers.naming import safe_label_value, stage_worker_name
from workflows.workers.spec import Labels, WorkerSpec

IMAGE = "busybox:latest"


def manifest(**fields: Any) -> Pod:
    return build_pod(WorkerSpec(name="w-0", **fields), "ci", IMAGE)


def container(**fields: Any) -> Container:
    return manifest(**fields)["spec"]["containers"][0]


def test_the_default_pod() -> None:
    pod = manifest(labels={Labels.TASK_ID: "t1"}, env={"B": "2", "A": "1"})

    assert pod["metadata"] == {
        "name": "w-0",
        "namespace": "ci",
        "labels": {Labels.TASK_ID: "t1", Labels.MANAGED_BY: "ottoscaler"},
    }
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert "activeDeadlineSeconds" not in pod["spec"]
    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    [worker] = pod["spec"]["containers"]
    assert worker["image"] == IMAGE
    assert worker["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"},
        {"name": "OTTO_OUTPUTS", "value": "/dev/termination-log"},
    ]
    # Outputs are the termination message; a failed worker's log tail never stands in.
    assert worker["terminationMessagePath"] == "/dev/termination-log"
    assert worker["terminationMessagePolicy"] == "File"
    assert worker["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    assert worker["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "command" not in worker


def test_the_stage_image_command_args_timeout_and_summary_are_used() -> None:
    pod = manifest(
        image="golang:1.23",
        command=("sh", "-c"),
        args=("make test",),
        timeout_seconds=900,
        summary="test · shard 1/2",
    )

    [worker] = pod["spec"]["containers"]
    assert (worker["image"], worker["command"], worker["args"]) == (
        "golang:1.23",
        ["sh", "-c"],
        ["make test"],
    )
    assert pod["spec"]["activeDeadlineSeconds"] == 900
    assert pod["metadata"]["annotations"] == {"ottoscaler.io/summary": "test · shard 1/2"}


@pytest.mark.parametrize(
    ("config", "resources"),
    [
        (
            {"ottoscaler.cpu_request": "2", "ottoscaler.memory_limit": "4Gi"},
            {"requests": {"cpu": "2", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "4Gi"}},
        ),
        (
            {"ottoscaler.cpu_limit": "", "ottoscaler.memory_limit": "none"},
            {"requests": {"cpu": "100m", "memory": "128Mi"}},
        ),
        (
            {"ottoscaler.memory_request": "1.5e9", "ottoscaler.cpu_request": "250m"},
            {
                "requests": {"cpu": "250m", "memory": "1.5e9"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
        ),
    ],
    ids=["override", "unset", "exponent"],
)
def test_resources_follow_the_stage_options(
    config: dict[str, str], resources: dict[str, dict[str, str]]
) -> None:
    assert container(config=config)["resources"] == resources


def test_the_security_context_can_be_opted_out_of() -> None:
    pod = manifest(config={"ottoscaler.security_context": "none"})

    assert "securityContext" not in pod["spec"]
    assert "securityContext" not in pod["spec"]["containers"][0]


def test_an_empty_run_as_user_keeps_the_image_user() -> None:
    pod = manifest(config={"ottoscaler.run_as_user": ""})

    assert pod["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"ottoscaler.cpu_limit": "lots"},
            "ottoscaler.cpu_limit='lots' is not a Kubernetes quantity",
        ),
        ({"ottoscaler.memory_request": "1GB"}, "ottoscaler.memory_request='1GB'"),
        ({"ottoscaler.security_context": "privileged"}, "must be 'default' or 'none'"),
        ({"ottoscaler.run_as_user": "0"}, "non-zero numeric uid"),
        ({"ottoscaler.run_as_user": "root"}, "non-zero numeric uid"),
    ],
)
def test_bad_options_are_refused_naming_the_key(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        manifest(config=config)


@pytest.mark.parametrize("name", ["Build_0", "x" * 64, "-w", ""])
def test_names_that_are_not_dns_labels_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        build_pod(WorkerSpec(name=name), "ci", IMAGE)


def test_long_pipeline_names_become_hashed_pod_names() -> None:
    long_name = stage_worker_name("p" * 80, "integration-tests", 11, 3, "run-uuid")

    pod = build_pod(WorkerSpec(name=long_name), "ci", IMAGE)

    assert pod["metadata"]["name"] == long_name
    assert len(long_name) <= 63


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("task-1", "task-1"),
        ("a.b_c-D", "a.b_c-D"),
        ("", ""),
        ("repo/name", "repo-name-876d2d86"),
        ("x" * 70, "x" * 54 + "-c71bd109"),
        ("///", "732c4e97"),
    ],
    ids=["valid", "all-allowed-chars", "empty", "slash", "too-long", "nothing-left"],
)
def test_safe_label_value(value: str, expected: str) -> None:
    assert safe_label_value(value) == expected


@given(st.text(max_size=200))
def test_every_label_value_is_accepted_by_kubernetes(value: str) -> None:
    result = safe_label_value(value)

    assert len(result) <= 63
    assert result == "" or (result[0].isalnum() and result[-1].isalnum() and result.isascii())
    assert all(ch.isalnum() or ch in "-_." for ch in result)
    assert safe_label_value(value) == result  # deterministic: list() selects what create() set
