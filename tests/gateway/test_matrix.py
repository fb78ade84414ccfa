"""Matrix stages through the gRPC API: one shard per combination, each with its env,
labels and Web UI summary; bad matrices are INVALID_ARGUMENT with nothing started."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from gateway.app import Running
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.history_specs import scheduled_specs
from tests.gateway.sample_runs import sample_output
from tests.gateway.test_execute_pipeline import request, stage
from workflows.workers.naming import pipeline_workflow_id


def with_matrix(
    s: pb.PipelineStage, *axes: tuple[str, list[str]], workers: int = 0
) -> pb.PipelineStage:
    s.worker_count = workers
    s.matrix.extend(pb.MatrixAxis(name=name, values=values) for name, values in axes)
    return s


OS_PY = (("os", ["linux", "mac"]), ("py", ["3.11", "3.12"]))

# Run with the other bad requests in test_validation.py; MAX_WORKERS_PER_TASK is 10 there.
BAD_REQUESTS = {
    "a worker_count that is not the matrix's product": (
        request(with_matrix(stage("t"), *OS_PY, workers=3)),
        "stages[0].worker_count: 3 does not match the matrix's 4 combinations (give 0, 1 or 4)",
    ),
    "a worker_count of 2^31-1 beside a matrix": (
        request(with_matrix(stage("t"), *OS_PY, workers=2**31 - 1)),
        "stages[0].worker_count: 2147483647 does not match the matrix's 4 combinations",
    ),
    "more combinations than MAX_WORKERS_PER_TASK": (
        request(with_matrix(stage("t"), ("a", ["1", "2", "3"]), ("b", ["1", "2", "3", "4"]))),
        "stages[0].matrix: makes 12 combinations, at most 10 (MAX_WORKERS_PER_TASK)",
    ),
    "a huge matrix": (
        request(with_matrix(stage("t"), *[(f"a{n}", ["x", "y"]) for n in range(8)])),
        "stages[0].matrix: makes 256 combinations, at most 10 (MAX_WORKERS_PER_TASK)",
    ),
    "a hundred thousand axes": (
        request(with_matrix(stage("t"), *[(f"a{n}", ["x", "y"]) for n in range(100_000)])),
        "stages[0].matrix: has 100000 axes, at most 8",
    ),
    "too many axes": (
        request(with_matrix(stage("t"), *[(f"a{n}", ["x"]) for n in range(9)])),
        "stages[0].matrix: has 9 axes, at most 8",
    ),
    "too many values on an axis": (
        request(with_matrix(stage("t"), ("n", [str(n) for n in range(257)]))),
        "stages[0].matrix[0].values: has 257 values, at most 256",
    ),
    "axis names that differ only in case": (
        request(with_matrix(stage("t"), ("os", ["a"]), ("OS", ["b"]))),
        "stages[0].matrix[1].name: 'OS' and stages[0].matrix[0].name 'os' both name "
        "OTTO_MATRIX_OS; axis names must differ in more than case",
    ),
    "an empty axis name": (
        request(with_matrix(stage("t"), ("", ["a"]))),
        "stages[0].matrix[0].name: '' must match",
    ),
    "a NUL in an axis name": (
        request(with_matrix(stage("t"), ("o\0s", ["a"]))),
        "stages[0].matrix[0].name: contains a NUL character",
    ),
    "an axis without values": (
        request(with_matrix(stage("t"), ("os", []))),
        "stages[0].matrix[0].values: must hold at least one value",
    ),
    "a repeated value": (
        request(with_matrix(stage("t"), ("os", ["linux", "linux"]))),
        "stages[0].matrix[0].values[1]: 'linux' repeats stages[0].matrix[0].values[0]",
    ),
    "an empty value": (
        request(with_matrix(stage("t"), ("os", ["linux", ""]))),
        "stages[0].matrix[0].values[1]: is empty",
    ),
    "a NUL in a value": (
        request(with_matrix(stage("t"), ("os", ["li\0nux"]))),
        "stages[0].matrix[0].values[0]: contains a NUL character",
    ),
    "a value too long": (
        request(with_matrix(stage("t"), ("os", ["x" * 257]))),
        "stages[0].matrix[0].values[0]: has 257 characters, at most 256",
    ),
}


@pytest.mark.parametrize("workers", [0, 1, 4])
async def test_one_shard_per_combination_each_with_its_env_labels_and_summary(
    workers: int, stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client
) -> None:
    tests = with_matrix(
        stage("test", "build", outputs="${OTTO_MATRIX_OS}_${OTTO_WORKER_INDEX}=${OTTO_MATRIX_PY}"),
        *OS_PY,
        workers=workers,
    )
    req = request(stage("build"), tests)
    events = [event async for event in stub.ExecutePipeline(req)]

    assert events[-1].status == pb.STAGE_COMPLETED
    done = next(e for e in events if e.stage_id == "test" and e.status == pb.STAGE_COMPLETED)
    assert done.metrics.successful_workers == 4
    assert dict(done.outputs) == {
        "linux_0": "3.11",
        "linux_1": "3.12",
        "mac_2": "3.11",
        "mac_3": "3.12",
    }
    specs = sorted(
        (s for s in await scheduled_specs(client, req.pipeline_id) if "-test-" in s.name),
        key=lambda s: s.env["OTTO_WORKER_INDEX"],
    )
    assert [(s.env["OTTO_MATRIX_OS"], s.env["OTTO_MATRIX_PY"]) for s in specs] == [
        ("linux", "3.11"),
        ("linux", "3.12"),
        ("mac", "3.11"),
        ("mac", "3.12"),
    ]
    assert [
        (s.labels["ottoscaler.io/matrix-os"], s.labels["ottoscaler.io/matrix-py"]) for s in specs
    ] == [
        ("linux", "3.11"),
        ("linux", "3.12"),
        ("mac", "3.11"),
        ("mac", "3.12"),
    ]
    assert [s.summary for s in specs] == [
        "test · shard 0 of 4 · os=linux, py=3.11 · attempt 1/1",
        "test · shard 1 of 4 · os=linux, py=3.12 · attempt 1/1",
        "test · shard 2 of 4 · os=mac, py=3.11 · attempt 1/1",
        "test · shard 3 of 4 · os=mac, py=3.12 · attempt 1/1",
    ]
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    lines = metadata.current_details.splitlines()
    assert lines[1].startswith("- test: COMPLETED · matrix os x py (4) · attempt 1/1 · 4/4 workers")
    history = await handle.fetch_history()
    summaries = {
        client.data_converter.payload_converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    assert "test · shard 2 of 4 · os=mac, py=3.11 · attempt 1/1" in summaries


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_test_pipeline_matrix_runs_every_combination(
    ottoscaler: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await sample_output(ottoscaler, "matrix", capsys)
    assert "[test] on macos with Python 3.12" in out
    assert (
        "outputs: linux_py311=passed, linux_py312=passed, linux_py313=passed, "
        "macos_py311=passed, macos_py312=passed, macos_py313=passed"
    ) in out
    assert "OTTO_OUTPUT_TEST_MACOS_PY313=passed" in out
