"""The pipeline deadline and stage conditions through the gRPC API (mock runtime)."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from gateway.app import Running
from gateway.cli.test_pipeline import main
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage


def with_deadline(req: pb.PipelineRequest, seconds: int) -> pb.PipelineRequest:
    req.timeout_seconds = seconds
    return req


def when(s: pb.PipelineStage, expression: str) -> pb.PipelineStage:
    s.when = expression
    return s


# Run with the other bad requests in test_validation.py.
BAD_REQUESTS = {
    "a negative deadline": (
        with_deadline(request(stage("a")), -1),
        "timeout_seconds: -1 is outside 0..604800 s",
    ),
    "a 68-year deadline": (
        with_deadline(request(stage("a")), 2**31 - 1),
        "timeout_seconds: 2147483647 is outside 0..604800 s",
    ),
    "a condition that is not CEL": (
        request(stage("a"), when(stage("b", "a"), 'stages.a.status == = "X"')),
        "stages[1].when: 'stages.a.status == = \"X\"' of stage 'b' is not valid CEL at "
        "line 1, column 20",
    ),
    "a condition naming a stage that is not a dependency": (
        request(stage("a"), stage("c"), when(stage("b", "a"), 'stages.c.status == "COMPLETED"')),
        "stages[2].when: 'stages.c.status == \"COMPLETED\"' of stage 'b' names stage 'c' at "
        "line 1, column 8, which is not one of its depends_on ['a']",
    ),
    "a condition naming an unknown variable": (
        request(when(stage("a"), 'branch == "main"')),
        "stages[0].when: 'branch == \"main\"' of stage 'a' names 'branch' at line 1, column 1",
    ),
}


async def test_the_deadline_cancels_the_pipeline_and_deletes_its_workers(
    stub: pb_grpc.OttoscalerServiceAsyncStub, ottoscaler: Running
) -> None:
    req = with_deadline(request(stage("slow", workers=2, duration="600"), stage("next", "slow")), 2)
    call = stub.ExecutePipeline(req)
    events = [event async for event in call]
    assert await call.code() == grpc.StatusCode.OK
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert "DeadlineExceeded" in final.message
    statuses = {e.stage_id: e.status for e in events if e.stage_id}
    assert statuses == {"slow": pb.STAGE_CANCELLED, "next": pb.STAGE_CANCELLED}
    # The stream ends once the pipeline has: by then every worker was deleted.
    assert await ottoscaler.runtime.list({"pipeline-id": req.pipeline_id}) == []


async def test_a_false_condition_skips_without_failing_the_pipeline(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(
        stage("build"),
        when(stage("deploy", "build"), 'pipeline.triggered_by == "release"'),
        stage("smoke", "deploy"),
    )
    events = [event async for event in stub.ExecutePipeline(req)]
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_COMPLETED)
    skipped = {e.stage_id: e.message for e in events if e.status == pb.STAGE_SKIPPED}
    assert skipped == {
        "deploy": 'when: pipeline.triggered_by == "release" is false',
        "smoke": "skipped: upstream stage deploy was skipped",
    }


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_test_pipeline_conditional_skips_the_deploy_and_completes(
    ottoscaler: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-server", f"127.0.0.1:{ottoscaler.grpc_port}", "-type", "conditional"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    assert 'when: pipeline.triggered_by == "release" is false' in out
    assert "skipped: upstream stage deploy was skipped" in out
    assert out.splitlines()[-1] == "pipeline completed"
