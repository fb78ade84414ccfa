"""Bookkeeping shared by the in-process runtimes (local, mock): one record per worker.

Both keep their workers in this process's memory, so a restarted Temporal worker does
not know the workers of its predecessor: awaiting one reports the failure WorkerLost,
which the stage may retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workflows.workers import WorkerInfo, WorkerOutcome, WorkerPhase, WorkerSpec

WORKER_LOST = "WorkerLost"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class WorkerRecord:
    spec: WorkerSpec
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    outcome: WorkerOutcome | None = None

    def info(self) -> WorkerInfo:
        outcome = self.outcome
        if outcome is not None:
            phase = WorkerPhase.SUCCEEDED if outcome.succeeded else WorkerPhase.FAILED
        else:
            phase = WorkerPhase.RUNNING if self.started_at else WorkerPhase.PENDING
        return WorkerInfo(
            name=self.spec.name,
            phase=phase,
            labels=self.spec.labels,
            created_at=self.created_at,
            started_at=self.started_at,
            completed_at=outcome.finished_at if outcome else None,
            node_name="localhost",
            pod_ip="127.0.0.1",
            error_message=outcome.failure_text if outcome else "",
        )

    def finish(self, exit_code: int | None, reason: str = "", message: str = "") -> WorkerOutcome:
        succeeded = exit_code == 0 and not reason
        self.outcome = WorkerOutcome(
            name=self.spec.name,
            succeeded=succeeded,
            exit_code=exit_code,
            reason="" if succeeded else reason or "Error",
            message=message,
            started_at=self.started_at,
            finished_at=utcnow(),
        )
        return self.outcome


def lost(name: str) -> WorkerOutcome:
    return WorkerOutcome(
        name=name,
        succeeded=False,
        reason=WORKER_LOST,
        message="the worker is unknown to this Ottoscaler process (it restarted?)",
    )


def matching(records: Mapping[str, WorkerRecord], labels: Mapping[str, str]) -> list[WorkerInfo]:
    return [
        record.info()
        for record in records.values()
        if all(record.spec.labels.get(k) == v for k, v in labels.items())
    ]
