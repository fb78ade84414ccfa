"""The HTTP face of the emulator: the slice of the core/v1 pods API that Ottoscaler uses.

    GET    /api/v1/namespaces/{ns}/pods            list, or watch=true (chunked stream)
    POST   /api/v1/namespaces/{ns}/pods            create (409 AlreadyExists)
    GET    /api/v1/namespaces/{ns}/pods/{name}     get (404 NotFound)
    DELETE /api/v1/namespaces/{ns}/pods/{name}     delete (404 NotFound)
    GET    /api/v1/namespaces/{ns}/pods/{name}/log follow, timestamps, sinceTime, tailLines
    GET    /api/v1/pods                            list or watch across namespaces
    POST   /api/v1/namespaces/{ns}/secrets         create (409 AlreadyExists)
    GET    /api/v1/namespaces/{ns}/secrets         list (labelSelector)
    GET    /api/v1/namespaces/{ns}/secrets/{name}  get (404 NotFound)
    DELETE /api/v1/namespaces/{ns}/secrets/{name}  delete (404 NotFound)

Errors are Status objects as the real API server sends them. Faults queued with
KubeServer.faults answer matching requests before any routing.
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.kube.store import Conflict, Gone, Json, LogLine, PodStore, pod_filter

_ROUTES = [
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$"), "pods"),
    (re.compile(r"^/api/v1/pods$"), "pods"),
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)$"), "pod"),
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$"), "log"),
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets$"), "secrets"),
    (re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/secrets/(?P<name>[^/]+)$"), "secret"),
]
_REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "AlreadyExists",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
# How often open streams check whether their client hung up.
_POLL_SECONDS = 0.05
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def status_object(code: int, message: str) -> Json:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown"),
        "code": code,
    }


@dataclass
class Fault:
    """Answers the next `times` requests whose method and path?query match with status."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    traceparent: str = ""  # the W3C trace context the client sent, if any


class KubeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: PodStore) -> None:
        super().__init__(("127.0.0.1", 0), KubeHandler)
        self.store = store
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.open_watches = 0
        self.open_log_streams = 0  # follow=true log requests still being served
        self.drops = 0  # bumping it aborts every open watch and log stream
        self.stopping = False

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-stream is normal here; stay quiet about it."""


def _verb(method: str, kind: str, query: dict[str, str]) -> str:
    if method == "POST":
        return "create"
    if method == "DELETE":
        return "delete"
    if kind == "pods":
        return "watch" if query.get("watch") in ("true", "1") else "list"
    return "get"


class KubeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KubeServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log is server.requests."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing -----------------------------------------------------------------------

    def _send_json(self, code: int, body: Json, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(code, status_object(code, message), headers)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self, dropped: bool) -> None:
        if dropped:  # abort mid-stream: the client sees a broken connection
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _inject_fault(self, method: str, target: str, verb: str, namespace: str) -> bool:
        store = self.server.store
        with store.changed:
            fault = next(
                (f for f in self.server.faults if f.method == method and f.pattern.search(target)),
                None,
            )
            if fault is None:
                return False
            fault.times -= 1
            if fault.times <= 0:
                self.server.faults.remove(fault)
            store.changed.notify_all()
        message = fault.message or (
            f'pods is forbidden: User "system:serviceaccount:{namespace}:ottoscaler" cannot '
            f'{verb} resource "pods" in API group "" in the namespace "{namespace}"'
            if fault.status == 403
            else f"injected fault {fault.status}"
        )
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        self._error(fault.status, message, headers)
        return True

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        body = self._read_body() if method in ("POST", "DELETE") else None
        store = self.server.store
        with store.changed:
            traceparent = self.headers.get("traceparent", "")
            self.server.requests.append(Request(method, url.path, query, body, traceparent))
            store.changed.notify_all()
        routed = next(((m, kind) for p, kind in _ROUTES if (m := p.match(url.path))), None)
        if routed is None:
            self._error(404, f"the server could not find the requested resource ({url.path})")
            return
        match, kind = routed
        params = match.groupdict()
        namespace = params.get("ns")
        verb = _verb(method, kind, query)
        if self._inject_fault(method, self.path, verb, namespace or ""):
            return
        handler: Callable[[], None] | None = {
            ("GET", "pods"): lambda: self._list_or_watch(namespace, query),
            ("POST", "pods"): lambda: self._create(namespace or "", body),
            ("GET", "pod"): lambda: self._get(namespace or "", params["name"]),
            ("DELETE", "pod"): lambda: self._delete(namespace or "", params["name"]),
            ("GET", "log"): lambda: self._log(namespace or "", params["name"], query),
            ("POST", "secrets"): lambda: self._create_secret(namespace or "", body),
            ("GET", "secrets"): lambda: self._list_secrets(namespace or "", query),
            ("GET", "secret"): lambda: self._get_secret(namespace or "", params["name"]),
            ("DELETE", "secret"): lambda: self._delete_secret(namespace or "", params["name"]),
        }.get((method, kind))
        if handler is None:
            self._error(405, f"{method} is not supported on {url.path}")
        else:
            handler()

    # -- secrets ------------------------------------------------------------------------

    def _create_secret(self, namespace: str, secret: Any) -> None:
        name = ((secret.get("metadata") if isinstance(secret, dict) else None) or {}).get("name")
        if not name or not _DNS1123.match(name):
            self._error(422, f'Secret "{name}" is invalid: metadata.name: Invalid value')
            return
        try:
            self._send_json(201, self.server.store.create_secret(namespace, secret))
        except Conflict:
            self._error(409, f'secrets "{name}" already exists')

    def _list_secrets(self, namespace: str, query: dict[str, str]) -> None:
        accept = pod_filter(namespace, query.get("labelSelector", ""), "")
        items = self.server.store.select_secrets(accept)
        self._send_json(200, {"apiVersion": "v1", "kind": "SecretList", "items": items})

    def _get_secret(self, namespace: str, name: str) -> None:
        secret = self.server.store.get_secret(namespace, name)
        if secret is None:
            self._error(404, f'secrets "{name}" not found')
        else:
            self._send_json(200, secret)

    def _delete_secret(self, namespace: str, name: str) -> None:
        secret = self.server.store.delete_secret(namespace, name)
        if secret is None:
            self._error(404, f'secrets "{name}" not found')
        else:
            self._send_json(200, secret)

    # -- pods ---------------------------------------------------------------------------

    def _create(self, namespace: str, pod: Any) -> None:
        meta = (pod.get("metadata") if isinstance(pod, dict) else None) or {}
        name = meta.get("name", "")
        if not name or not _DNS1123.match(name) or len(name) > 63:
            self._error(422, f'Pod "{name}" is invalid: metadata.name: Invalid value')
        elif meta.get("namespace", namespace) != namespace:
            self._error(400, "the namespace of the object does not match the request")
        elif not pod.get("spec", {}).get("containers"):
            self._error(422, f'Pod "{name}" is invalid: spec.containers: Required value')
        else:
            try:
                self._send_json(201, self.server.store.create(namespace, pod))
            except Conflict:
                self._error(409, f'pods "{name}" already exists')

    def _get(self, namespace: str, name: str) -> None:
        pod = self.server.store.get(namespace, name)
        if pod is None:
            self._error(404, f'pods "{name}" not found')
        else:
            self._send_json(200, pod)

    def _delete(self, namespace: str, name: str) -> None:
        pod = self.server.store.delete(namespace, name)
        if pod is None:
            self._error(404, f'pods "{name}" not found')
        else:
            self._send_json(200, pod)

    def _list_or_watch(self, namespace: str | None, query: dict[str, str]) -> None:
        accept = pod_filter(
            namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
        )
        if query.get("watch") in ("true", "1"):
            self._watch(accept, query)
            return
        pods, version = self.server.store.select(accept)
        for pod in pods:
            pod.update(apiVersion="v1", kind="Pod")
        self._send_json(
            200,
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(version)},
                "items": pods,
            },
        )

    def _watch(self, accept: Callable[[Json], bool], query: dict[str, str]) -> None:
        store, server = self.server.store, self.server
        timeout = float(query.get("timeoutSeconds") or 1800)
        requested = query.get("resourceVersion", "")
        with store.changed:
            drops = server.drops
            server.open_watches += 1
            store.changed.notify_all()
            if requested in ("", "0"):  # "any version": the current state as ADDED first
                pods, sent = store.select(accept)
                backlog = [("ADDED", pod) for pod in pods]
            else:
                sent, backlog = int(requested), []
        self._start_stream("application/json")
        deadline = time.monotonic() + timeout
        end: str | None = None
        try:
            while True:
                for type_, obj in backlog:
                    self._chunk((json.dumps({"type": type_, "object": obj}) + "\n").encode())
                if end is not None:
                    break
                events, sent, end = self._await_events(sent, drops, deadline)
                backlog = [(t, obj) for t, obj in events if t == "ERROR" or accept(obj)]
            if end != "closed":
                self._end_stream(dropped=end == "dropped")
        finally:
            with store.changed:
                server.open_watches -= 1
                store.changed.notify_all()

    def _await_events(
        self, sent: int, drops: int, deadline: float
    ) -> tuple[list[tuple[str, Json]], int, str | None]:
        """(events after version sent, the new version, why the stream ends or None)."""
        store, server = self.server.store, self.server
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or server.stopping:
                return [], sent, "timeout"
            if self._client_gone():
                return [], sent, "closed"
            with store.changed:
                store.changed.wait_for(
                    lambda: store.version > sent or server.drops != drops or server.stopping,
                    timeout=min(remaining, _POLL_SECONDS),
                )
                if server.drops != drops:
                    return [], sent, "dropped"
                if store.version <= sent:
                    continue
                try:
                    events = store.events_after(sent)
                except Gone as exc:
                    return [("ERROR", status_object(410, str(exc)))], sent, "gone"
                return [(e.type, e.pod) for e in events], store.version, None

    def _client_gone(self) -> bool:
        """Whether the client hung up: a real apiserver frees the watch then, not at timeout."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    # -- logs ---------------------------------------------------------------------------

    def _log(self, namespace: str, name: str, query: dict[str, str]) -> None:
        pod = self.server.store.get(namespace, name)
        if pod is None:
            self._error(404, f'pods "{name}" not found')
            return
        state = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {})
        if "running" not in state and "terminated" not in state:
            reason = state.get("waiting", {}).get("reason", "ContainerCreating")
            container = pod["spec"]["containers"][0]["name"]
            self._error(
                400, f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
            return
        since = query.get("sinceTime")
        since_time = datetime.fromisoformat(since) if since else None
        stamps = query.get("timestamps") == "true"

        def render(lines: list[LogLine]) -> bytes:
            chosen = [line for line in lines if since_time is None or line.time >= since_time]
            return b"".join(
                (f"{line.time.isoformat().replace('+00:00', 'Z')} " if stamps else "").encode()
                + line.text.encode()
                + b"\n"
                for line in chosen
            )

        if query.get("follow") == "true":
            self._follow_log(namespace, name, render)
            return
        lines = self.server.store.logs(namespace, name)
        tail = int(query.get("tailLines", len(lines)))
        data = render(lines[len(lines) - tail :] if tail else [])
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _follow_log(
        self, namespace: str, name: str, render: Callable[[list[LogLine]], bytes]
    ) -> None:
        """Streams lines as the kubelet writes them until the container has ended."""
        store, server = self.server.store, self.server
        self._start_stream("text/plain")
        with store.changed:
            server.open_log_streams += 1
            store.changed.notify_all()
        try:
            self._stream_log(namespace, name, render)
        finally:
            with store.changed:
                server.open_log_streams -= 1
                store.changed.notify_all()

    def _stream_log(
        self, namespace: str, name: str, render: Callable[[list[LogLine]], bytes]
    ) -> None:
        store, server = self.server.store, self.server
        sent, drops = 0, server.drops
        while not server.stopping:
            if self._client_gone():
                return
            with store.changed:
                pod = store.get(namespace, name)
                lines = store.logs(namespace, name)
                finished = pod is None or pod["status"].get("phase") in ("Succeeded", "Failed")
                if len(lines) == sent and not finished:
                    store.changed.wait(timeout=_POLL_SECONDS)
                    if server.drops != drops:
                        self._end_stream(dropped=True)
                        return
                    continue
            if lines[sent:]:
                self._chunk(render(lines[sent:]))
            sent = len(lines)
            if finished:
                break
        self._end_stream(dropped=False)
