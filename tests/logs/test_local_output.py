"""The local runtime's output, bad bytes included, reaches StreamWorkerLogs whole and in order."""

from __future__ import annotations

import pytest

from activities.logs.lines import CONTINUED, MAX_LINE_BYTES
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import collect, pipeline

SCRIPT = (
    "echo first; echo oops >&2; "
    "head -c 100000 /dev/zero | tr '\\0' x; echo; "  # one line longer than the limit
    "printf '\\377\\376 not utf-8\\n'; "
    'i=1; while [ $i -le 500 ]; do echo "n $i"; i=$((i+1)); done; '
    "printf 'last, no newline'"
)


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_every_line_arrives_once_in_order_with_its_source(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    stage = pb.PipelineStage(stage_id="build", command=["sh", "-c", SCRIPT])
    request = pipeline(stage)
    progress = await collect(stub.ExecutePipeline(request))
    assert progress[-1].status == pb.STAGE_COMPLETED
    logs = pb.WorkerLogsRequest(pipeline_id=request.pipeline_id)
    entries = await collect(stub.StreamWorkerLogs(logs))
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    stdout = [e.message for e in entries if e.source == "stdout"]
    assert [e.message for e in entries if e.source == "stderr"] == ["oops"]
    long_line = "x" * 100_000
    assert stdout == [
        "first",
        long_line[:MAX_LINE_BYTES] + CONTINUED,
        long_line[MAX_LINE_BYTES:],
        "\ufffd\ufffd not utf-8",
        *(f"n {i}" for i in range(1, 501)),
        "last, no newline",
    ]
