"""Who owns the worker pods, so that uninstalling Ottoscaler removes them.

Resolved once when the runtime starts: OTTOSCALER_OWNER if configured, else in a cluster
the controller of Ottoscaler's own pod (its ReplicaSet), read from that pod (POD_NAME,
POD_NAMESPACE from the downward API) since the Role grants `get` on pods, not on
ReplicaSets; outside a cluster, none. The reference is neither `controller` (the
ReplicaSet would release pods its selector does not match, removing the reference) nor
`blockOwnerDeletion` (that needs `update` on the owner's finalizers).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kubernetes.client import ApiClient, CoreV1Api

from activities.runtimes.kubernetes.bodies import OwnerReference, Pod, as_json
from activities.runtimes.kubernetes.errors import CLIENT_ERRORS, runtime_error
from activities.runtimes.kubernetes.watch import CONNECT_SECONDS

log = logging.getLogger(__name__)

OWNER_SETTING = "OTTOSCALER_OWNER"


def parse_owner(text: str) -> OwnerReference:
    """'<apiVersion>/<kind>/<name>/<uid>', e.g. 'apps/v1/Deployment/ottoscaler/6f1c...'."""
    parts = text.strip().rsplit("/", 3)
    if len(parts) != 4 or not all(parts):
        raise ValueError(
            f"{OWNER_SETTING}={text!r} must be <apiVersion>/<kind>/<name>/<uid>, "
            "e.g. apps/v1/Deployment/ottoscaler/6f1c9a4e-..."
        )
    api_version, kind, name, uid = parts
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid}


def controller_of(pod: Pod) -> OwnerReference | None:
    """The reference to the pod's controller (a Deployment's ReplicaSet), if it has one."""
    for ref in pod.get("metadata", {}).get("ownerReferences") or ():
        # Neither controller nor blockOwnerDeletion carries over (see above).
        owner: OwnerReference = {
            "apiVersion": ref.get("apiVersion", ""),
            "kind": ref.get("kind", ""),
            "name": ref.get("name", ""),
            "uid": ref.get("uid", ""),
        }
        controller: bool | None = ref.get("controller")
        if controller and all(owner.values()):
            return owner
    return None


def resolve_owner(
    api: ApiClient, namespace: str, configured: str, environ: Mapping[str, str]
) -> OwnerReference | None:
    """The owner of worker pods in namespace; blocks on one API call in a cluster."""
    if configured:
        return parse_owner(configured)
    pod_name = environ.get("POD_NAME", "")
    if not pod_name:
        return None  # not in a cluster: nothing that uninstalls
    pod_namespace = environ.get("POD_NAMESPACE") or namespace
    if pod_namespace != namespace:
        # An owner in another namespace counts as absent: the garbage collector would
        # delete every worker pod at once.
        log.warning(
            "worker pods get no owner: Ottoscaler runs in namespace %r, its workers in %r",
            pod_namespace,
            namespace,
        )
        return None
    try:
        pod = CoreV1Api(api).read_namespaced_pod(
            pod_name, namespace, _request_timeout=CONNECT_SECONDS
        )
    except CLIENT_ERRORS as exc:
        raise runtime_error(exc, verb="get", namespace=namespace, name=pod_name) from exc
    owner = controller_of(as_json(api, pod))
    if owner is None:
        log.warning("worker pods get no owner: Ottoscaler's pod %r has no controller", pod_name)
    else:
        log.info("worker pods are owned by %s %s", owner["kind"], owner["name"])
    return owner
