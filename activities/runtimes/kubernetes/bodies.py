"""The Kubernetes JSON this runtime reads and writes, typed key by key (as kopf's RawBody).

Only the keys the runtime reads from pods, pod lists and watch events, writes into the
manifest (pods.build_pod) or passes over on purpose (noted where declared), so that mypy
checks each read and write. Keys are the JSON's (camelCase). The objects are total=False:
the API server leaves out what is unset, so readers default every key, e.g.
`pod.get("status", {}).get("phase") or "Pending"`. JSON enters at two places: as_json
(the client's models) and PodStream.watch (events).

mypy checks the key of a `.get()` only through its value's type (an unknown key reads as
`object`), so every read lands in a declared type: a function's return or parameter, or
an annotated variable; never straight in a condition or a pydantic model's arguments,
which mypy does not check here.
"""

from __future__ import annotations

from typing import Literal, TypedDict, cast, overload

from kubernetes.client import ApiClient, V1Pod, V1PodList


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    # Never written on worker pods (owner says why); controller is read on Ottoscaler's own.
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    creationTimestamp: str
    deletionTimestamp: str
    resourceVersion: str
    ownerReferences: list[OwnerReference]


class ContainerStateWaiting(TypedDict, total=False):
    reason: str
    message: str


class ContainerStateRunning(TypedDict, total=False):
    startedAt: str


class ContainerStateTerminated(TypedDict, total=False):
    exitCode: int
    reason: str
    message: str
    startedAt: str
    finishedAt: str


class ContainerState(TypedDict, total=False):
    """At most one of them is set; running is never read (status needs only the others)."""

    waiting: ContainerStateWaiting
    running: ContainerStateRunning
    terminated: ContainerStateTerminated


class ContainerStatus(TypedDict, total=False):
    state: ContainerState


class PodCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str


class PodStatus(TypedDict, total=False):
    phase: str
    reason: str
    message: str
    conditions: list[PodCondition]
    containerStatuses: list[ContainerStatus]
    podIP: str
    startTime: str


class SecretKeySelector(TypedDict):
    name: str
    key: str


class EnvVarSource(TypedDict, total=False):
    secretKeyRef: SecretKeySelector


class EnvVar(TypedDict, total=False):
    name: str
    value: str
    valueFrom: EnvVarSource


class ResourceRequirements(TypedDict, total=False):
    requests: dict[str, str]
    limits: dict[str, str]


class SeccompProfile(TypedDict, total=False):
    type: str


class Capabilities(TypedDict, total=False):
    drop: list[str]


class SecurityContext(TypedDict, total=False):
    allowPrivilegeEscalation: bool
    capabilities: Capabilities
    runAsNonRoot: bool
    seccompProfile: SeccompProfile


class PodSecurityContext(TypedDict, total=False):
    runAsNonRoot: bool
    runAsUser: int
    runAsGroup: int
    seccompProfile: SeccompProfile


class Container(TypedDict, total=False):
    name: str
    image: str
    command: list[str]
    args: list[str]
    env: list[EnvVar]
    resources: ResourceRequirements
    securityContext: SecurityContext
    terminationMessagePath: str
    terminationMessagePolicy: str


class PodSpec(TypedDict, total=False):
    restartPolicy: str
    containers: list[Container]
    automountServiceAccountToken: bool
    enableServiceLinks: bool
    terminationGracePeriodSeconds: int
    activeDeadlineSeconds: int
    securityContext: PodSecurityContext
    nodeName: str  # set by the scheduler


class Pod(TypedDict, total=False):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class ListMeta(TypedDict, total=False):
    resourceVersion: str


class PodList(TypedDict, total=False):
    metadata: ListMeta
    items: list[Pod]


# An ERROR event never reaches us: kubernetes.watch.Watch.stream raises it as ApiException.
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


class WatchEvent(TypedDict):
    """An event as Watch.stream yields it (its `object`, the client's model, is unused)."""

    type: WatchEventType
    raw_object: Pod  # a BOOKMARK's holds only metadata.resourceVersion


@overload
def as_json(api: ApiClient, model: V1Pod) -> Pod: ...
@overload
def as_json(api: ApiClient, model: V1PodList) -> PodList: ...
def as_json(api: ApiClient, model: V1Pod | V1PodList) -> Pod | PodList:
    """A client model as the raw JSON the API server sent (camelCase keys)."""
    json = api.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
    return cast("Pod | PodList", json)
