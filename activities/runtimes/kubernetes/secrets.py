"""The kubernetes runtime's SecretStore: one Secret per pipeline run, owned like the pods.

Pods take its values by secretKeyRef, so neither a pod spec nor Temporal holds one; the
Secret carries the pods' ownerReference and their managed-by and pipeline-id labels, so
deleting Ottoscaler's ReplicaSet or the orphan reaper removes it as it removes pods.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

from kubernetes.client import ApiClient, CoreV1Api, V1Secret
from kubernetes.client.exceptions import ApiException

from activities.runtimes.kubernetes.bodies import OwnerReference
from activities.runtimes.kubernetes.errors import CLIENT_ERRORS, runtime_error
from activities.runtimes.kubernetes.pods import label_selector, pod_labels
from activities.runtimes.protocol import WorkerNotFound
from activities.secrets.store import SecretsNotFound, StoredSecrets
from workflows.workers.spec import MANAGED_BY, Labels

T = TypeVar("T")


class Caller(Protocol):
    def __call__(self, fn: Callable[..., T], *args: Any, **kw: Any) -> Awaitable[T]: ...


class KubeSecrets:
    def __init__(
        self,
        api: ApiClient,
        namespace: str,
        run: Caller,
        owner: Callable[[], OwnerReference | None],
    ) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._namespace = namespace
        self._run = run
        self._owner = owner

    async def _call(self, verb: str, name: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        try:
            return await self._run(fn, *args, **kw)
        except CLIENT_ERRORS as exc:
            raise runtime_error(
                exc, verb=verb, namespace=self._namespace, name=name, kind="secret"
            ) from exc

    async def put(self, name: str, labels: Mapping[str, str], values: Mapping[str, str]) -> None:
        metadata: dict[str, Any] = {"name": name, "labels": pod_labels(labels)}
        owner = self._owner()
        if owner:
            metadata["ownerReferences"] = [dict(owner)]
        data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata}
        secret = V1Secret.from_dict({**body, "data": data})
        await self._call(
            "create", name, self._core.create_namespaced_secret, self._namespace, secret
        )

    async def read(self, name: str) -> dict[str, str]:
        try:
            secret = await self._call(
                "get", name, self._core.read_namespaced_secret, name, self._namespace
            )
        except WorkerNotFound as err:
            raise SecretsNotFound(f"no Secret {name!r}: the run that stored it ended") from err
        data = self._json(secret).get("data") or {}
        return {key: base64.b64decode(value).decode() for key, value in data.items()}

    async def delete(self, name: str) -> None:
        try:
            await self._run(self._core.delete_namespaced_secret, name, self._namespace)
        except CLIENT_ERRORS as exc:
            if isinstance(exc, ApiException) and exc.status == 404:
                return  # already gone: what delete wanted
            raise runtime_error(
                exc, verb="delete", namespace=self._namespace, name=name, kind="secret"
            ) from exc

    async def list(self) -> list[StoredSecrets]:
        secrets = await self._call(
            "list",
            "",
            self._core.list_namespaced_secret,
            self._namespace,
            label_selector=label_selector({Labels.MANAGED_BY: MANAGED_BY}),
        )
        items = self._json(secrets).get("items") or []
        return sorted(
            (
                StoredSecrets(
                    name=item["metadata"]["name"],
                    labels=item["metadata"].get("labels") or {},
                    created_at=item["metadata"].get("creationTimestamp"),
                )
                for item in items
            ),
            key=lambda entry: entry.name,
        )

    def _json(self, model: object) -> dict[str, Any]:
        """A client model as the raw JSON the API server sent."""
        raw: dict[str, Any] = self._api.sanitize_for_serialization(model)  # type: ignore[no-untyped-call]
        return raw
