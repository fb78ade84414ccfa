"""The one place where Kubernetes client errors become Ottoscaler's runtime errors.

Nothing from `kubernetes` or `urllib3` leaks past the runtime: callers catch
CLIENT_ERRORS around a client call and raise runtime_error(...) from it. Transient means
the activity's retry policy (or the watch loop) should try again; permanent means it
cannot help, so the message says what to fix. Retry paces the list/watch requests that
follow pods, which retry transient errors by themselves before giving up.
"""

from __future__ import annotations

import asyncio
import json

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from activities.backoff import Backoff
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    RuntimeFailure,
    TransientRuntimeError,
    WorkerNotFound,
)

# What a client call can raise: API answers, and transport failures (refused, reset, timeout).
CLIENT_ERRORS: tuple[type[Exception], ...] = (ApiException, urllib3.exceptions.HTTPError, OSError)
RBAC_DOC = "docs/kubernetes.md#rbac"


def _server_message(exc: ApiException) -> str:
    """The message of the API server's Status body, else the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(exc.reason or "")


def retry_after(exc: BaseException) -> float | None:
    """The Retry-After the API server asked for (seconds), if any."""
    headers = getattr(exc, "headers", None)
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def runtime_error(
    exc: BaseException, *, verb: str, namespace: str, name: str = "", kind: str = "pod"
) -> RuntimeFailure:
    """Maps a client error raised while doing verb on pods (or kind) name in namespace."""
    target = f"{kind} {name!r}" if name else f"{kind}s"
    where = f"in namespace {namespace!r}"
    if not isinstance(exc, ApiException):
        return TransientRuntimeError(f"cannot reach the Kubernetes API to {verb} {target}: {exc}")
    status = exc.status or 0
    detail = _server_message(exc)
    if status == 403:
        return PermanentRuntimeError(
            f"forbidden: Ottoscaler's service account may not {verb} {kind}s {where}; "
            f"grant it the Role in {RBAC_DOC} (API server: {detail})"
        )
    if status == 401:
        return PermanentRuntimeError(
            f"unauthorized: the Kubernetes API rejected Ottoscaler's credentials ({detail})"
        )
    if status == 404:
        return WorkerNotFound(f"{target} not found {where}")
    if status == 429:
        wait = retry_after(exc)
        hint = f"; retry after {wait:g}s" if wait is not None else ""
        return TransientRuntimeError(f"the Kubernetes API is throttling {verb} {target}{hint}")
    if status == 0 or status in (408, 410) or status >= 500:
        return TransientRuntimeError(f"Kubernetes API error {status} on {verb} {target}: {detail}")
    return PermanentRuntimeError(f"the Kubernetes API refused to {verb} {target} {where}: {detail}")


class Retry:
    """Failed list/watch requests in a row: backs off between them, gives up past `retries`."""

    def __init__(
        self, retries: int, backoff: float, max_backoff: float, *, namespace: str, name: str = ""
    ) -> None:
        self._backoff = Backoff(backoff, max_backoff, retries=retries)
        self._namespace = namespace
        self._name = name

    async def failed(self, exc: BaseException) -> None:
        """Sleeps before the next try; raises the runtime error when trying again cannot help."""
        error = runtime_error(exc, verb="watch", namespace=self._namespace, name=self._name)
        pause = self._backoff.failed(at_least=retry_after(exc) or 0.0)
        if not isinstance(error, TransientRuntimeError) or self._backoff.exhausted:
            raise error from exc
        await asyncio.sleep(pause)

    def succeeded(self) -> None:
        self._backoff.reset()
