"""A client span around every request the runtime sends to the API server.

Every call of the client, typed (create_namespaced_pod, ...), watch (Watch.stream) or raw
(the log stream), goes through ApiClient.call_api, so wrapping that one method of the
runtime's client traces them all. The span is named as the API server itself names the
request in its audit log and metrics, by verb and resource: `kubernetes create pods`,
`kubernetes watch pods`, `kubernetes get pods/log`. It lasts until the server answered
(for a watch or a log stream: until the stream opened, not while it is read) and carries
W3C `traceparent` to the API server, which continues the trace when its own tracing is on.

The call runs in a thread of the runtime's pools: the runtime copies the caller's context
there, so the span is the child of the activity that made the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes.client import ApiClient
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from activities.tracing import W3C

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def request_name(method: str, url: str) -> tuple[str, dict[str, str]]:
    """The span's name for one request (`kubernetes <verb> <resource>[/<subresource>]`)
    and the Kubernetes attributes its path gives."""
    parts = urlsplit(url)
    # /api/v1/... (the core group) or /apis/<group>/<version>/..., then
    # [namespaces/<ns>/]<resource>[/<name>[/<subresource>]].
    segments = [s for s in parts.path.split("/") if s]
    segments = segments[2:] if segments[:1] == ["api"] else segments[3:]
    attributes: dict[str, str] = {}
    if segments[:1] == ["namespaces"] and len(segments) > 2:
        attributes["k8s.namespace.name"] = segments[1]
        segments = segments[2:]
    resource = segments[0] if segments else "?"
    named = len(segments) > 1
    if named:
        attributes["k8s.resource.name"] = segments[1]
    if len(segments) > 2:
        resource = f"{resource}/{segments[2]}"
    verb = _VERBS.get(method)
    if verb is None and method == "DELETE":
        verb = "delete" if named else "deletecollection"
    if verb is None:
        watching = parse_qs(parts.query).get("watch", [""])[0].lower() == "true"
        verb = "get" if named else "watch" if watching else "list"
    return f"kubernetes {verb} {resource}", attributes


def trace_calls(api: ApiClient, tracer: Tracer) -> None:
    """Every request of `api` in a client span of `tracer`, from now on."""
    call: Callable[..., Any] = api.call_api

    def traced(
        method: str, url: str, header_params: dict[str, str] | None = None, *args: Any, **kw: Any
    ) -> Any:
        name, attributes = request_name(method, url)
        parts = urlsplit(url)
        attributes |= {
            "http.request.method": method,
            "server.address": parts.hostname or "",
            "url.path": parts.path,
        }
        kind = SpanKind.CLIENT
        with tracer.start_as_current_span(name, kind=kind, attributes=attributes) as span:
            headers = dict(header_params or {})
            W3C.inject(headers)
            response = call(method, url, headers, *args, **kw)
            status = int(response.status)
            span.set_attribute("http.response.status_code", status)
            if status >= 400:
                span.set_status(Status(StatusCode.ERROR, str(status)))
            return response

    # On this client only: nothing else in the process is traced.
    api.call_api = traced  # type: ignore[method-assign]
