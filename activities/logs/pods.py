"""Which pod a log belongs to (PodMeta) and which pods a reader wants (LogSelector).

PodMeta is stored beside each pod's archive, so logs stay findable by pipeline, task,
stage or pod long after the pod is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from activities.logs.lines import utcnow
from workflows.workers.spec import Labels, WorkerSpec


class PodMeta(BaseModel):
    model_config = ConfigDict(frozen=True)

    pod: str
    task_id: str = ""
    pipeline_id: str = ""
    stage_id: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    # Set once the worker's output is complete: followers of this pod may stop.
    complete: bool = False
    lines: int = 0
    note: str = ""


def pod_meta(spec: WorkerSpec) -> PodMeta:
    labels = spec.labels
    return PodMeta(
        pod=spec.name,
        task_id=labels.get(Labels.TASK_ID, ""),
        pipeline_id=labels.get(Labels.PIPELINE_ID, ""),
        stage_id=labels.get(Labels.STAGE_ID, ""),
        labels=dict(labels),
    )


@dataclass(frozen=True)
class LogSelector:
    """The pods a reader wants; empty fields match anything, given ones must all match."""

    pipeline_id: str = ""
    task_id: str = ""
    pod: str = ""
    stage_id: str = ""

    def matches(self, meta: PodMeta) -> bool:
        return (
            (not self.pipeline_id or meta.pipeline_id == self.pipeline_id)
            and (not self.task_id or meta.task_id == self.task_id)
            and (not self.pod or meta.pod == self.pod)
            and (not self.stage_id or meta.stage_id == self.stage_id)
        )

    @property
    def task_hint(self) -> str:
        """The task whose directory holds every match, when known (a pipeline's workers
        carry the pipeline id as their task id)."""
        return self.task_id or self.pipeline_id
