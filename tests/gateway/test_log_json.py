"""LOG_FORMAT=json: every line parses, and lines about a pipeline's worker carry its ids."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from gateway.app import Running
from gateway.server.log_json import JsonFormatter
from gateway.server.tracing import ottoscaler_tracer
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the process logs at INFO and above, formatted as LOG_FORMAT=json does."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_a_workers_lines_carry_its_pipeline_stage_worker_and_workflow(
    ottoscaler: Running, stub: pb_grpc.OttoscalerServiceAsyncStub, json_lines: io.StringIO
) -> None:
    req = request(stage("build", exit_code="3", reason="Error"))
    events = [e async for e in stub.ExecutePipeline(req)]
    assert events[-1].status == pb.STAGE_FAILED
    [worker] = {name for e in events for name in e.worker_pod_names}

    entries = parsed(json_lines)  # every line is one JSON object
    [ended] = [e for e in entries if e["message"].startswith(f"worker {worker} ended")]
    assert ended["level"] == "INFO"
    assert "Error (exit 3)" in ended["message"]
    assert ended["pipeline_id"] == req.pipeline_id
    assert ended["stage_id"] == "build"
    assert ended["worker"] == worker
    assert ended["workflow_id"] == f"pipeline-{req.pipeline_id}"
    assert ended["run_id"]
    assert ended["activity"] == "run_worker"


def test_a_workflows_line_carries_its_pipeline_and_stage() -> None:
    record = logging.makeLogRecord(
        {
            "name": "temporalio.workflow",
            "levelname": "WARNING",
            "msg": "could not delete worker %s",
            "args": ("w-1",),
            "temporal_workflow": {
                "workflow_id": "pipeline-p1/test/run7",
                "run_id": "r1",
                "workflow_type": "StageWorkflow",
            },
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "could not delete worker w-1"
    assert (entry["pipeline_id"], entry["stage_id"], entry["run_id"]) == ("p1", "test", "r1")
    assert entry["workflow"] == "StageWorkflow"


def test_a_line_logged_in_a_span_carries_its_trace() -> None:
    tracer = ottoscaler_tracer(TracerProvider())
    with tracer.start_as_current_span("call") as span:
        record = logging.makeLogRecord({"msg": "inside"})
        entry = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")
    outside = json.loads(JsonFormatter().format(logging.makeLogRecord({"msg": "outside"})))
    assert "trace_id" not in outside


def test_log_format_json_is_what_the_cli_sets_up() -> None:
    script = (
        "import logging\n"
        "from gateway.cli.main import configure_logging\n"
        "from gateway.settings import Settings\n"
        "configure_logging(Settings())\n"
        "logging.getLogger('ottoscaler').info('hello %s', 'there')\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('ottoscaler').exception('failed')\n"
    )
    env = os.environ | {"LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    hello, failed = (json.loads(line) for line in done.stderr.splitlines())
    assert (hello["level"], hello["logger"], hello["message"]) == (
        "INFO",
        "ottoscaler",
        "hello there",
    )
    assert failed["message"] == "failed"
    assert "ZeroDivisionError" in failed["exception"]
