"""Deterministic, DNS-1123-safe worker names.

A name is a pure function of (pipeline, stage, shard, attempt, run): a retried activity
finds the pod it created before, and a new run of the same pipeline_id never collides
with (or adopts) a pod of an older run.
"""

from __future__ import annotations

import hashlib
import re

MAX_NAME_LENGTH = 63
_UNSAFE = re.compile(r"[^a-z0-9-]+")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_UNSAFE = re.compile(r"[^-A-Za-z0-9_.]+")


def name_part(part: str) -> str:
    """A part of a worker name: lower case, every run of other characters one dash."""
    return _UNSAFE.sub("-", part.lower()).strip("-")


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def safe_label_value(value: str) -> str:
    """Returns value if Kubernetes accepts it as a label value, else a sanitised, hashed form.

    Both the pod's labels and list()'s selector go through this, so they always agree.
    """
    if len(value) <= MAX_NAME_LENGTH and _LABEL_VALUE.match(value):
        return value
    digest = short_hash(value, 8)
    head = _LABEL_UNSAFE.sub("-", value)[: MAX_NAME_LENGTH - len(digest) - 1]
    head = head.strip("-_.")
    return f"{head}-{digest}" if head else digest


def dns_safe_name(*parts: str) -> str:
    """Joins parts into a DNS-1123 label; over 63 characters, truncates and adds a hash."""
    name = "-".join(p for p in (name_part(part) for part in parts) if p) or "worker"
    if len(name) <= MAX_NAME_LENGTH:
        return name
    digest = short_hash(name, 10)
    head = name[: MAX_NAME_LENGTH - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def stage_worker_name(pipeline_id: str, stage_id: str, shard: int, attempt: int, run: str) -> str:
    return dns_safe_name(pipeline_id, stage_id, str(shard), f"a{attempt}", short_hash(run, 6))


def pipeline_workflow_id(pipeline_id: str) -> str:
    return f"pipeline-{pipeline_id}"


def stage_workflow_id(pipeline_id: str, stage_id: str, run: str) -> str:
    """Derived from the input alone, so a replay under any workflow id schedules the same."""
    return f"{pipeline_workflow_id(pipeline_id)}/{stage_id}/{run}"
