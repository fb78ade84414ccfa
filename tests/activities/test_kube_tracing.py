"""The names and attributes of the Kubernetes API request spans: the API server's own verb
and resource for each request the runtime sends."""

from __future__ import annotations

import pytest

from activities.runtimes.kubernetes.tracing import request_name

HOST = "https://10.0.0.1:443"


@pytest.mark.parametrize(
    ("method", "path", "name", "attributes"),
    [
        ("POST", "/api/v1/namespaces/ci/pods", "kubernetes create pods", {}),
        ("GET", "/api/v1/namespaces/ci/pods?labelSelector=a%3Db", "kubernetes list pods", {}),
        (
            "GET",
            "/api/v1/namespaces/ci/pods?watch=True&resourceVersion=7",
            "kubernetes watch pods",
            {},
        ),
        (
            "GET",
            "/api/v1/namespaces/ci/pods/w-1",
            "kubernetes get pods",
            {"k8s.resource.name": "w-1"},
        ),
        (
            "GET",
            "/api/v1/namespaces/ci/pods/w-1/log?follow=true",
            "kubernetes get pods/log",
            {"k8s.resource.name": "w-1"},
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ci/pods/w-1",
            "kubernetes delete pods",
            {"k8s.resource.name": "w-1"},
        ),
        ("DELETE", "/api/v1/namespaces/ci/secrets", "kubernetes deletecollection secrets", {}),
        ("POST", "/api/v1/namespaces/ci/secrets", "kubernetes create secrets", {}),
        (
            "GET",
            "/apis/apps/v1/namespaces/ci/replicasets/rs-1",
            "kubernetes get replicasets",
            {"k8s.resource.name": "rs-1"},
        ),
        ("GET", "/api/v1/nodes", "kubernetes list nodes", None),
    ],
)
def test_a_request_is_named_by_verb_and_resource(
    method: str, path: str, name: str, attributes: dict[str, str] | None
) -> None:
    expected = {} if attributes is None else {"k8s.namespace.name": "ci", **attributes}
    assert request_name(method, HOST + path) == (name, expected)
