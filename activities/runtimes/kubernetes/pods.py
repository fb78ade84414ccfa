"""The pod a WorkerSpec becomes: a pure function from spec to manifest, no client calls.

Keeping the manifest a plain dict (the JSON the API server receives, typed as bodies.Pod)
makes it easy to test exhaustively and to read next to `kubectl get pod -o yaml`.
Per-stage options come from `ottoscaler.*` keys of the stage config; docs/kubernetes.md
lists them with their defaults. A bad option value raises ValueError naming the key,
before anything is created.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

from activities.runtimes.kubernetes.bodies import (
    Container,
    EnvVar,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSecurityContext,
    PodSpec,
    ResourceRequirements,
    SeccompProfile,
    SecurityContext,
)
from workflows.workers.naming import DNS1123_LABEL, MAX_NAME_LENGTH, safe_label_value
from workflows.workers.outputs import OUTPUTS_ENV
from workflows.workers.spec import MANAGED_BY, Labels, WorkerSpec

CONTAINER_NAME = "worker"
SUMMARY_ANNOTATION = "ottoscaler.io/summary"
# A worker's outputs are its termination message, as Tekton's results are: the kubelet
# bind-mounts a writable file here whatever the image, and keeps its last 4,096 bytes.
# Policy File: a failed worker's log tail must never pass for its outputs.
OUTPUTS_PATH = "/dev/termination-log"
# Workers need no API access; the kubelet kills them this long after a delete.
TERMINATION_GRACE_SECONDS = 10

DEFAULT_RESOURCES: Mapping[str, str] = {
    "ottoscaler.cpu_request": "100m",
    "ottoscaler.memory_request": "128Mi",
    "ottoscaler.cpu_limit": "1",
    "ottoscaler.memory_limit": "512Mi",
}
# The conventional "nonroot" uid of distroless images: any image runs under
# runAsNonRoot, including busybox whose USER is root.
DEFAULT_RUN_AS_USER = "65532"

_QUANTITY = re.compile(r"^\+?(\d+(\.\d*)?|\.\d+)([numkMGTPE]|[KMGTPE]i|[eE][+-]?\d+)?$")


def pod_labels(labels: Mapping[str, str]) -> dict[str, str]:
    safe = {key: safe_label_value(value) for key, value in labels.items()}
    safe[Labels.MANAGED_BY] = MANAGED_BY
    return safe


def label_selector(labels: Mapping[str, str]) -> str:
    """The selector of the managed pods whose labels include every given label."""
    return ",".join(f"{key}={value}" for key, value in sorted(pod_labels(labels).items()))


def _option(config: Mapping[str, str], key: str, default: str) -> str:
    return config.get(key, default).strip()


def _resources(config: Mapping[str, str]) -> ResourceRequirements:
    resources: ResourceRequirements = {}
    for key, default in DEFAULT_RESOURCES.items():
        value = _option(config, key, default)
        if value in ("", "none"):
            continue  # explicitly unset: no request or no limit for this resource
        if not _QUANTITY.match(value):
            raise ValueError(f"{key}={value!r} is not a Kubernetes quantity (e.g. 250m, 1Gi)")
        resource, kind = key.removeprefix("ottoscaler.").split("_")
        bound: Literal["requests", "limits"] = "requests" if kind == "request" else "limits"
        resources.setdefault(bound, {})[resource] = value
    return resources


def _security(config: Mapping[str, str]) -> tuple[PodSecurityContext, SecurityContext]:
    """(pod securityContext, container securityContext): restricted unless opted out."""
    mode = _option(config, "ottoscaler.security_context", "default")
    if mode == "none":
        return {}, {}
    if mode != "default":
        raise ValueError(f"ottoscaler.security_context={mode!r} must be 'default' or 'none'")
    seccomp: SeccompProfile = {"type": "RuntimeDefault"}
    pod: PodSecurityContext = {"runAsNonRoot": True, "seccompProfile": seccomp}
    user = _option(config, "ottoscaler.run_as_user", DEFAULT_RUN_AS_USER)
    if user:
        if not user.isdigit() or int(user) == 0:
            raise ValueError(f"ottoscaler.run_as_user={user!r} must be a non-zero numeric uid")
        pod["runAsUser"] = int(user)
        pod["runAsGroup"] = int(user)
    container: SecurityContext = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": seccomp,
    }
    return pod, container


def _env(spec: WorkerSpec) -> list[EnvVar]:
    """Plain values, then secrets by reference: the pod spec never holds a secret value."""
    plain = {**spec.env, OUTPUTS_ENV: OUTPUTS_PATH}
    env: list[EnvVar] = [{"name": key, "value": value} for key, value in sorted(plain.items())]
    if spec.secrets is not None:
        store = spec.secrets.store
        env.extend(
            {"name": name, "valueFrom": {"secretKeyRef": {"name": store, "key": key}}}
            for name, key in sorted(spec.secrets.keys.items())
        )
    return env


def build_pod(
    spec: WorkerSpec,
    namespace: str,
    default_image: str,
    owner: OwnerReference | None = None,
) -> Pod:
    """The manifest of the pod that runs spec, ready for create_namespaced_pod.

    owner is the ownerReference every worker pod carries (owner), if any.
    """
    if len(spec.name) > MAX_NAME_LENGTH or not DNS1123_LABEL.match(spec.name):
        raise ValueError(
            f"worker name {spec.name!r} is not a DNS-1123 label (workflows.workers.naming)"
        )
    pod_security, container_security = _security(spec.config)
    container: Container = {
        "name": CONTAINER_NAME,
        "image": spec.image or default_image,
        "env": _env(spec),
        "resources": _resources(spec.config),
        "terminationMessagePath": OUTPUTS_PATH,
        "terminationMessagePolicy": "File",
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if container_security:
        container["securityContext"] = container_security
    pod_spec: PodSpec = {
        "restartPolicy": "Never",
        "containers": [container],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
    }
    if spec.timeout_seconds > 0:
        pod_spec["activeDeadlineSeconds"] = spec.timeout_seconds
    if pod_security:
        pod_spec["securityContext"] = pod_security
    metadata: ObjectMeta = {
        "name": spec.name,
        "namespace": namespace,
        "labels": pod_labels(spec.labels),
    }
    if spec.summary:
        metadata["annotations"] = {SUMMARY_ANNOTATION: spec.summary}
    if owner:
        metadata["ownerReferences"] = [owner.copy()]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
