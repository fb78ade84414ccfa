"""Client errors become runtime errors in one place (activities/runtimes/kube_errors)."""

from __future__ import annotations

import json

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from activities.runtimes.kubernetes.errors import retry_after, runtime_error
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    RuntimeFailure,
    TransientRuntimeError,
    WorkerNotFound,
)


def api_error(
    status: int, message: str = "", headers: dict[str, str] | None = None
) -> ApiException:
    error = ApiException(status=status, reason="Reason", body=json.dumps({"message": message}))
    error.headers = headers
    return error


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (
            api_error(500, "etcd timeout"),
            TransientRuntimeError,
            "error 500 on create pod 'w': etcd timeout",
        ),
        (api_error(503), TransientRuntimeError, "error 503"),
        (api_error(504), TransientRuntimeError, "error 504"),
        (api_error(429, headers={"Retry-After": "3"}), TransientRuntimeError, "retry after 3s"),
        (api_error(429), TransientRuntimeError, "throttling create pod 'w'"),
        (
            api_error(403, "cannot create"),
            PermanentRuntimeError,
            "may not create pods in namespace 'ci'",
        ),
        (api_error(401, "bad token"), PermanentRuntimeError, "unauthorized"),
        (api_error(404), WorkerNotFound, "pod 'w' not found in namespace 'ci'"),
        (api_error(422, "spec.containers: Required"), PermanentRuntimeError, "spec.containers"),
        (api_error(409, "exists"), PermanentRuntimeError, "refused to create pod 'w'"),
        (ApiException(status=0, reason="SSL handshake"), TransientRuntimeError, "SSL handshake"),
        (
            urllib3.exceptions.MaxRetryError(urllib3.HTTPConnectionPool("127.0.0.1"), "/api"),
            TransientRuntimeError,
            "cannot reach",
        ),
        (ConnectionRefusedError("refused"), TransientRuntimeError, "cannot reach"),
    ],
    ids=[
        "500",
        "503",
        "504",
        "429-retry-after",
        "429",
        "403",
        "401",
        "404",
        "422",
        "409",
        "ssl",
        "max-retries",
        "refused",
    ],
)
def test_runtime_error(error: Exception, kind: type[RuntimeFailure], text: str) -> None:
    mapped = runtime_error(error, verb="create", namespace="ci", name="w")

    assert type(mapped) is kind
    assert text in str(mapped)


def test_transient_errors_are_retryable_and_permanent_ones_are_not() -> None:
    assert runtime_error(api_error(500), verb="get", namespace="ci").retryable
    assert not runtime_error(api_error(403), verb="get", namespace="ci").retryable


def test_a_forbidden_error_names_the_fix() -> None:
    mapped = runtime_error(api_error(403, "RBAC: denied"), verb="watch", namespace="ci")

    assert str(mapped) == (
        "forbidden: Ottoscaler's service account may not watch pods in namespace 'ci'; "
        "grant it the Role in docs/kubernetes.md#rbac (API server: RBAC: denied)"
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"Retry-After": "5"}, 5.0), ({"Retry-After": "soon"}, None), ({}, None), (None, None)],
)
def test_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert retry_after(api_error(429, headers=headers)) == expected
