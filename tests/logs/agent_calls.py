"""An agent's calls as tests make them, with credentials made from the gateway's own key."""

from __future__ import annotations

from activities.logs.credentials import agent_credential
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb

TASK = "task-a"


def registration(
    settings: Settings,
    worker: str,
    task: str = TASK,
    *,
    pod: str = "",
    labels: dict[str, str] | None = None,
    credential: str | None = None,
) -> pb.WorkerRegistration:
    """credential None: the worker's own, as Ottoscaler put it in its environment."""
    if credential is None:
        credential = agent_credential(settings.signing_key, task, worker)
    metadata = pb.WorkerMetadata(pod_name=pod, labels=labels or {"team": "ci"})
    return pb.WorkerRegistration(
        worker_id=worker, task_id=task, metadata=metadata, credential=credential
    )


def entry(
    worker: str,
    session: str,
    message: str,
    *,
    source: str = "",
    timestamp: str = "",
    level: str = "",
) -> pb.LogEntry:
    return pb.LogEntry(
        worker_id=worker,
        task_id=TASK,
        session_id=session,
        message=message,
        source=source,
        timestamp=timestamp,
        level=level,
    )
