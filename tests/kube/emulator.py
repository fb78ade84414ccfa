"""A Kubernetes API emulator on 127.0.0.1 plus a fake kubelet, for the real `kubernetes` client.

    with KubeEmulator() as kube:
        api = kube.api_client()                  # a real ApiClient aimed at the emulator
        kube.write_kubeconfig(path)              # ... or a kubeconfig file, for KUBECONFIG
        kube.fail_next("POST", r"/pods$", 500)    # the next create answers 500
        kube.drop_watches()                      # every open watch and log stream breaks off
        kube.compact()                           # watches from older versions get 410 Gone
        kube.delete_pod("ns", "name")            # behind the client's back
        kube.exit("ns", "name", 0)               # the container exits now
        kube.release("ns", "name")               # a held (FAKE_WAITING_REASON) container starts
        kube.print("ns", "name", "text", at=t)   # the container prints, stamped t

Tests wait on conditions (`until`, `wait_for`), never on sleeps. Why not kmock: its
emulator ignores labelSelector, keeps no resourceVersion/uid/creationTimestamp and cannot
resume a watch or answer 410 Gone, which is exactly what the runtime must get right.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

from kubernetes.client import ApiClient, Configuration

from tests.kube.kubelet import FakeKubelet
from tests.kube.server import Fault, KubeServer, Request
from tests.kube.store import Json, PodStore


class KubeEmulator:
    def __init__(self, *, kubelet_tick_seconds: float = 0.01) -> None:
        self.store = PodStore()
        self._server = KubeServer(self.store)
        self._kubelet = FakeKubelet(self.store, kubelet_tick_seconds)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> KubeEmulator:
        self._thread.start()
        self._kubelet.start()
        return self

    def stop(self) -> None:
        self._kubelet.stop()
        with self.store.changed:
            self._server.stopping = True
            self.store.changed.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def api_client(self) -> ApiClient:
        configuration = Configuration(host=self.host)
        return ApiClient(configuration)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this emulator (JSON is valid YAML)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.host}}],
            "users": [{"name": "ottoscaler", "user": {"token": "emulator"}}],
            "contexts": [
                {"name": "emulator", "context": {"cluster": "emulator", "user": "ottoscaler"}}
            ],
            "current-context": "emulator",
        }
        path.write_text(json.dumps(config))
        return path

    # -- fault injection ----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        pattern: str,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        message: str = "",
    ) -> None:
        """The next `times` requests with this method whose path?query matches the regex fail."""
        fault = Fault(method, re.compile(pattern), status, times, retry_after, message)
        with self.store.changed:
            self._server.faults.append(fault)

    def drop_watches(self) -> None:
        """Breaks every open watch and log stream off mid-stream, as a dying apiserver would."""
        with self.store.changed:
            self._server.drops += 1
            self.store.changed.notify_all()

    def delete_pod(self, namespace: str, name: str) -> Json | None:
        return self.store.delete(namespace, name)

    def exit(self, namespace: str, name: str, code: int = 0) -> None:
        """The pod's container exits now with code (the fake kubelet reports it)."""
        self._kubelet.exit(namespace, name, code)

    def release(self, namespace: str, name: str) -> None:
        """The pod's container, held waiting by FAKE_WAITING_REASON, starts now."""
        self._kubelet.release(namespace, name)

    def print(self, namespace: str, name: str, *texts: str, at: datetime | None = None) -> None:
        """The pod's container prints these lines, stamped `at` (default: now) in its log."""
        for text in texts:
            self.store.append_log(namespace, name, text, at)

    def compact(self) -> None:
        """Forgets the event history: a watch from any version seen so far gets 410 Gone."""
        self.store.compact()

    # -- inspection ---------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> Json | None:
        return self.store.get(namespace, name)

    def pods(self, namespace: str) -> list[Json]:
        pods, _ = self.store.select(lambda pod: pod["metadata"]["namespace"] == namespace)
        return pods

    def secrets(self, namespace: str) -> list[Json]:
        return self.store.select_secrets(lambda s: s["metadata"]["namespace"] == namespace)

    def phase(self, namespace: str, name: str) -> str | None:
        pod = self.pod(namespace, name)
        return pod["status"].get("phase") if pod else None

    @property
    def requests(self) -> list[Request]:
        with self.store.changed:
            return list(self._server.requests)

    @property
    def open_watches(self) -> int:
        return self._server.open_watches

    @property
    def open_log_streams(self) -> int:
        return self._server.open_log_streams

    @property
    def pending_faults(self) -> int:
        with self.store.changed:
            return sum(f.times for f in self._server.faults)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Blocks until predicate() holds (re-checked on every change); AssertionError if not."""
        with self.store.changed:
            if not self.store.changed.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"condition not met within {timeout}s")

    async def until(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        """wait_for without blocking the event loop the runtime under test runs on."""
        await asyncio.to_thread(self.wait_for, predicate, within)
