"""The emulator's state: pods per namespace, their logs, and the event history watches read.

One threading.Condition guards everything and is notified on every change, so HTTP
handler threads (watch and log streams), the fake kubelet and the tests' wait_for all
wake on the same signal. resourceVersion is one counter across all pods, as in etcd;
compact() forgets the history, so a watch from an older version gets 410 Gone.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Condition
from typing import Any

Json = dict[str, Any]
Key = tuple[str, str]


def now_rfc3339() -> str:
    """Object timestamps have second precision in the real API too."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Conflict(Exception):
    pass


class Gone(Exception):
    pass


@dataclass(frozen=True)
class Event:
    version: int
    type: str
    pod: Json


@dataclass(frozen=True)
class LogLine:
    time: datetime
    text: str


def _selector_terms(selector: str) -> Iterator[tuple[str, str, str]]:
    """(key, op, value) for 'k=v', 'k==v', 'k!=v', 'k' (exists) and '!k' terms."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        for op in ("!=", "==", "="):
            if op in term:
                key, value = term.split(op, 1)
                yield key.strip(), "!=" if op == "!=" else "=", value.strip()
                break
        else:
            yield (term[1:], "!", "") if term.startswith("!") else (term, "exists", "")


def _matches(values: dict[str, str], selector: str) -> bool:
    for key, op, value in _selector_terms(selector):
        ok = {
            "=": values.get(key) == value,
            "!=": values.get(key) != value,
            "exists": key in values,
            "!": key not in values,
        }[op]
        if not ok:
            return False
    return True


def pod_filter(namespace: str | None, labels: str, fields: str) -> Callable[[Json], bool]:
    """The pods a list or watch with these namespace, labelSelector and fieldSelector sees."""

    def accept(pod: Json) -> bool:
        meta = pod["metadata"]
        field_values = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "status.phase": pod.get("status", {}).get("phase", ""),
            "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        }
        return (
            (namespace is None or meta["namespace"] == namespace)
            and _matches(meta.get("labels") or {}, labels)
            and _matches(field_values, fields)
        )

    return accept


class PodStore:
    def __init__(self) -> None:
        self.changed = Condition()  # re-entrant: wait_for predicates may read the store
        self._pods: dict[Key, Json] = {}
        self._secrets: dict[Key, Json] = {}
        self._logs: dict[Key, list[LogLine]] = {}
        self._events: list[Event] = []
        self._version = 0
        self._oldest = 0
        # Pods created, by name: a create answered 409 (adopted) does not count.
        self.creations: Counter[str] = Counter()

    @property
    def version(self) -> int:
        return self._version

    def _record(self, type_: str, pod: Json) -> None:
        """Bumps the version and notifies; the caller holds the lock."""
        self._version += 1
        pod["metadata"]["resourceVersion"] = str(self._version)
        self._events.append(Event(self._version, type_, copy.deepcopy(pod)))
        self.changed.notify_all()

    def create(self, namespace: str, pod: Json) -> Json:
        with self.changed:
            key = (namespace, pod["metadata"]["name"])
            if key in self._pods:
                raise Conflict(key[1])
            meta = pod["metadata"]
            meta.update(namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
            pod.setdefault("status", {})["phase"] = "Pending"
            self._pods[key] = pod
            self._logs[key] = []
            self.creations[key[1]] += 1
            self._record("ADDED", pod)
            return copy.deepcopy(pod)

    def get(self, namespace: str, name: str) -> Json | None:
        with self.changed:
            pod = self._pods.get((namespace, name))
            return copy.deepcopy(pod) if pod else None

    def select(self, accept: Callable[[Json], bool]) -> tuple[list[Json], int]:
        with self.changed:
            pods = [copy.deepcopy(p) for p in self._pods.values() if accept(p)]
            return pods, self._version

    def update(self, namespace: str, name: str, mutate: Callable[[Json], None]) -> Json | None:
        with self.changed:
            pod = self._pods.get((namespace, name))
            if pod is None:
                return None
            mutate(pod)
            self._record("MODIFIED", pod)
            return copy.deepcopy(pod)

    def delete(self, namespace: str, name: str) -> Json | None:
        with self.changed:
            pod = self._pods.pop((namespace, name), None)
            self._logs.pop((namespace, name), None)
            if pod is None:
                return None
            pod["metadata"]["deletionTimestamp"] = now_rfc3339()
            self._record("DELETED", pod)
            return copy.deepcopy(pod)

    def events_after(self, version: int) -> list[Event]:
        """Events newer than version; Gone if the history no longer reaches back that far."""
        with self.changed:
            if version < self._oldest:
                raise Gone(f"too old resource version: {version} ({self._oldest})")
            return [e for e in self._events if e.version > version]

    def compact(self) -> None:
        """Other writes moved etcd's revision on, then history was compacted."""
        with self.changed:
            self._events.clear()
            self._version += 1
            self._oldest = self._version

    def append_log(self, namespace: str, name: str, text: str, at: datetime | None = None) -> None:
        with self.changed:
            if (namespace, name) in self._logs:
                self._logs[namespace, name].append(LogLine(at or datetime.now(UTC), text))
                self.changed.notify_all()

    def logs(self, namespace: str, name: str) -> list[LogLine]:
        with self.changed:
            return list(self._logs.get((namespace, name), ()))

    # -- secrets (no watch: Ottoscaler only creates, reads, lists and deletes them) --------

    def create_secret(self, namespace: str, secret: Json) -> Json:
        with self.changed:
            key = (namespace, secret["metadata"]["name"])
            if key in self._secrets:
                raise Conflict(key[1])
            secret["metadata"].update(
                namespace=namespace, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339()
            )
            self._secrets[key] = secret
            self.changed.notify_all()
            return copy.deepcopy(secret)

    def get_secret(self, namespace: str, name: str) -> Json | None:
        with self.changed:
            secret = self._secrets.get((namespace, name))
            return copy.deepcopy(secret) if secret else None

    def select_secrets(self, accept: Callable[[Json], bool]) -> list[Json]:
        with self.changed:
            return [copy.deepcopy(s) for s in self._secrets.values() if accept(s)]

    def delete_secret(self, namespace: str, name: str) -> Json | None:
        with self.changed:
            secret = self._secrets.pop((namespace, name), None)
            self.changed.notify_all()
            return secret
