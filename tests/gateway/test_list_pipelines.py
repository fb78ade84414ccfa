"""ListPipelines over real gRPC: this Ottoscaler's pipeline runs, newest first, page by page."""

from __future__ import annotations

from typing import TypeAlias

import grpc
import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.waiting import eventually

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"


async def run_to_end(stub: Stub, req: pb.PipelineRequest) -> None:
    events = [event async for event in stub.ExecutePipeline(req)]
    assert not events[-1].stage_id


async def test_runs_are_listed_newest_first_page_by_page(stub: Stub) -> None:
    failing = request(stage("build", exit_code="1"))
    completed = [request(stage("build")), request(stage("build"))]
    for req in (failing, *completed):
        await run_to_end(stub, req)

    async def closed_runs() -> list[pb.PipelineRunSummary]:
        answer = await stub.ListPipelines(pb.ListPipelinesRequest())
        runs = list(answer.pipelines)
        return runs if len(runs) == 3 and all(r.completed_at for r in runs) else []

    runs = await eventually(closed_runs, within=30)
    assert [r.pipeline_id for r in runs] == [
        completed[1].pipeline_id,
        completed[0].pipeline_id,
        failing.pipeline_id,
    ]
    assert [r.status for r in runs] == [pb.STAGE_COMPLETED, pb.STAGE_COMPLETED, pb.STAGE_FAILED]
    assert {(r.repository, r.commit_sha, r.triggered_by) for r in runs} == {
        ("otto/demo", "abc123", "tests")
    }
    assert all(r.run_id and r.started_at < r.completed_at for r in runs)

    first = await stub.ListPipelines(pb.ListPipelinesRequest(page_size=2))
    assert [r.pipeline_id for r in first.pipelines] == [r.pipeline_id for r in runs[:2]]
    rest = await stub.ListPipelines(pb.ListPipelinesRequest(page_token=first.next_page_token))
    assert [r.pipeline_id for r in rest.pipelines] == [failing.pipeline_id]
    assert rest.next_page_token == ""


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (pb.ListPipelinesRequest(page_size=1001), "page_size: must be 0..1000, got 1001"),
        (pb.ListPipelinesRequest(page_size=-1), "page_size: must be 0..1000, got -1"),
        (pb.ListPipelinesRequest(page_token="not a token"), "page_token: "),
    ],
)
async def test_a_bad_page_is_invalid_argument(
    stub: Stub, bad: pb.ListPipelinesRequest, message: str
) -> None:
    with pytest.raises(aio.AioRpcError) as refused:
        await stub.ListPipelines(bad)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith(message)
