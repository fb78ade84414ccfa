"""LOG_FORMAT=json: one JSON object a line, with the ids of what the line is about.

A line logged while an activity runs carries its workflow, run and activity (from the
`temporal_activity` extra of temporalio's activity logger, or else from LogIds, which
tags every line of the activity's task); one of a worker's activity also carries its
pipeline, stage and worker. Workflow lines carry theirs from `temporal_workflow`. With
traces on, a line logged inside a span carries its trace and span ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import Labels, WorkerSpec

_PIPELINE_PREFIX = pipeline_workflow_id("")
_ids: ContextVar[Mapping[str, str] | None] = ContextVar("ottoscaler_log_ids", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= _ids.get() or {}
        entry |= _temporal_ids(record)
        entry |= _pipeline_ids(entry.get("workflow_id", ""))
        entry |= _trace_ids()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def _trace_ids() -> dict[str, str]:
    """The current span's (gateway/server/tracing.py), when traces are on."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}


def _temporal_ids(record: logging.LogRecord) -> dict[str, Any]:
    details = getattr(record, "temporal_activity", None)
    if isinstance(details, Mapping):
        return {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("workflow_run_id"),
            "activity": details.get("activity_type"),
            "activity_attempt": details.get("attempt"),
        }
    details = getattr(record, "temporal_workflow", None)
    if isinstance(details, Mapping):
        return {
            "workflow_id": details.get("workflow_id"),
            "run_id": details.get("run_id"),
            "workflow": details.get("workflow_type"),
        }
    return {}


def _pipeline_ids(workflow_id: str) -> dict[str, str]:
    """A pipeline's workflow is `pipeline-<id>`, a stage's child `pipeline-<id>/<stage>/<run>`."""
    if not workflow_id.startswith(_PIPELINE_PREFIX):
        return {}
    pipeline_id, _, rest = workflow_id.removeprefix(_PIPELINE_PREFIX).partition("/")
    stage_id = rest.partition("/")[0]
    return {"pipeline_id": pipeline_id} | ({"stage_id": stage_id} if stage_id else {})


class LogIds(Interceptor):
    """Tags every line logged while an activity runs with it, and with the worker it is
    about (its name, pipeline and stage) when it is given one."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Tagging(next)


class _Tagging(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        ids = {
            "workflow_id": info.workflow_id or "",
            "run_id": info.workflow_run_id or "",
            "activity": info.activity_type,
        }
        spec = next((arg for arg in input.args if isinstance(arg, WorkerSpec)), None)
        if spec is not None:
            ids["worker"] = spec.name
            for key, label in (("pipeline_id", Labels.PIPELINE_ID), ("stage_id", Labels.STAGE_ID)):
                if spec.labels.get(label):
                    ids[key] = spec.labels[label]
        token = _ids.set(ids)
        try:
            return await super().execute_activity(input)
        finally:
            _ids.reset(token)
