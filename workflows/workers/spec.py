"""What a workflow asks a runtime for (WorkerSpec) and what it hears back (WorkerOutcome).

These are the activities' inputs and results: workflows build them, activities/ and
the runtimes consume them. A "worker" is one pod (kubernetes), one process (local) or
one scripted timer (mock).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from workflows.base.model import Frozen

MANAGED_BY = "ottoscaler"
# A cleanup stage's workers learn the pipeline's outcome so far from it (pipeline/cleanup.py).
PIPELINE_STATUS_ENV = "OTTO_PIPELINE_STATUS"
PIPELINE_OUTCOMES = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
DEFAULT_PENDING_TIMEOUT_SECONDS = 300


class Labels:
    """Label keys otto-handler knows (proto/ottoscaler/v1/README.md), then our own: the run
    that created the worker (only that run adopts it), its shard and its attempt, and a
    pool worker's index (pipeline workers carry pipeline-id instead)."""

    MANAGED_BY = "managed-by"
    TASK_ID = "task-id"
    PIPELINE_ID = "pipeline-id"
    STAGE_ID = "stage-id"
    STAGE_TYPE = "stage-type"
    RUN_ID = "ottoscaler.io/run"
    SHARD = "ottoscaler.io/shard"
    ATTEMPT = "ottoscaler.io/attempt"
    # The secret store a worker's secret values come from (its name, never a value).
    SECRETS = "ottoscaler.io/secrets"
    POOL_INDEX = "ottoscaler.io/pool-index"


class SecretRefs(Frozen):
    """Where a worker's secret values are kept, never the values: Temporal sees only this.

    store names a Kubernetes Secret (kubernetes) or an entry of Ottoscaler's own store
    (local, mock); keys maps each environment variable to its key in that store.
    """

    store: str
    keys: dict[str, str] = Field(default_factory=dict)


class StoredSecrets(Frozen):
    """A secret store's entry as the reaper sees it: name, labels and age, never values."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None


class WorkerSpec(Frozen):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    # Stage config: mock.* drives the mock runtime, ottoscaler.* holds runtime options.
    config: dict[str, str] = Field(default_factory=dict)
    attempt: int = 1
    # The stage's attempts_allowed: signed with the rest, so no input can add attempts.
    max_attempts: int = 1
    timeout_seconds: int = 0
    pending_timeout_seconds: int = DEFAULT_PENDING_TIMEOUT_SECONDS
    summary: str = ""
    # References to secret values, resolved as the worker is created.
    secrets: SecretRefs | None = None
    # The gateway's HMAC over signed_content (workflows/workers/signed.py): activities
    # create only workers whose spec carries a valid one. Not a secret.
    signature: str = ""


class WorkerPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WorkerOutcome(Frozen):
    """How a worker ended. reason is empty on success, else e.g. Error, OOMKilled."""

    name: str
    succeeded: bool
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A succeeded worker's OTTO_OUTPUTS, parsed and checked (outputs.py).
    outputs: dict[str, str] = Field(default_factory=dict)

    @property
    def failure_text(self) -> str:
        if self.succeeded:
            return ""
        detail = f" (exit {self.exit_code})" if self.exit_code not in (None, 0) else ""
        extra = f": {self.message}" if self.message else ""
        return f"{self.reason}{detail}{extra}"


class WorkerInfo(Frozen):
    """A worker as the runtime sees it now; GetWorkerStatus reports these."""

    name: str
    phase: WorkerPhase
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    node_name: str = ""
    pod_ip: str = ""
    error_message: str = ""


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PENDING_TIMEOUT_KEY = "ottoscaler.pending_timeout_seconds"


def env_from_config(config: Mapping[str, str]) -> dict[str, str]:
    """Config keys that look like environment variable names become environment variables."""
    return {key: value for key, value in config.items() if ENV_NAME.match(key)}


MAX_PENDING_TIMEOUT_SECONDS = 24 * 3600


def parse_pending_timeout(raw: str) -> int | None:
    """A pending deadline in whole seconds within 0..a day; None for anything else."""
    if raw.isdecimal() and int(raw) <= MAX_PENDING_TIMEOUT_SECONDS:
        return int(raw)
    return None


def pending_timeout(config: Mapping[str, str]) -> int:
    """The configured pending deadline (validation rejects a bad one), else the default."""
    seconds = parse_pending_timeout(config.get(PENDING_TIMEOUT_KEY, ""))
    return DEFAULT_PENDING_TIMEOUT_SECONDS if seconds is None else seconds
