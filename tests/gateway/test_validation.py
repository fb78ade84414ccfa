"""Bad requests: INVALID_ARGUMENT naming the field, nothing started, server keeps serving."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_approvals import BAD_REQUESTS as APPROVALS
from tests.gateway.test_cleanup import BAD_REQUESTS as CLEANUP
from tests.gateway.test_deadline_and_conditions import BAD_REQUESTS as DEADLINES_AND_CONDITIONS
from tests.gateway.test_execute_pipeline import request, stage
from tests.gateway.test_matrix import BAD_REQUESTS as MATRICES
from workflows.workers.naming import pipeline_workflow_id


def with_retry(s: pb.PipelineStage, max_attempts: int = 0, delay: int = 0) -> pb.PipelineStage:
    s.retry_policy.CopyFrom(pb.RetryPolicy(max_attempts=max_attempts, retry_delay_seconds=delay))
    return s


def with_field(s: pb.PipelineStage, **fields: int) -> pb.PipelineStage:
    for name, value in fields.items():
        setattr(s, name, value)
    return s


def config_of(entries: int) -> dict[str, str]:
    """About 30 KB a value, the most a value may hold."""
    return {f"KEY_{n}": "x" * 30_000 for n in range(entries)}


def with_identity(req: pb.PipelineRequest, **fields: str) -> pb.PipelineRequest:
    for name, value in fields.items():
        setattr(req, name, value)
    return req


def named(req: pb.PipelineRequest, pipeline_id: str) -> pb.PipelineRequest:
    req.pipeline_id = pipeline_id
    return req


BAD_REQUESTS = {
    **DEADLINES_AND_CONDITIONS,
    **APPROVALS,
    **CLEANUP,
    **MATRICES,
    "no stages": (request(), "stages: must contain at least one stage"),
    "missing stage_id": (request(stage("")), "stages[0].stage_id: is required"),
    "duplicate stage_id": (
        request(stage("build"), stage("build")),
        "stages[1].stage_id: 'build' is already used by stages[0]",
    ),
    "unknown dependency": (
        request(stage("build"), stage("test", "biuld")),
        "stages[1].depends_on: unknown stage 'biuld'",
    ),
    "cycle": (
        request(stage("a", "c"), stage("b", "a"), stage("c", "b")),
        "dependency cycle: a -> c -> b -> a",
    ),
    "self dependency": (request(stage("a", "a")), "dependency cycle: a -> a"),
    "negative worker_count": (
        request(with_field(stage("a"), worker_count=-1)),
        "stages[0].worker_count: -1 is outside 1..10",
    ),
    "worker_count over the limit": (
        request(with_field(stage("a"), worker_count=11)),
        "stages[0].worker_count: 11 is outside 1..10",
    ),
    "negative timeout": (
        request(with_field(stage("a"), timeout_seconds=-5)),
        "stages[0].timeout_seconds: -5 is negative",
    ),
    "negative attempts": (
        request(with_retry(stage("a"), max_attempts=-1)),
        "stages[0].retry_policy.max_attempts: -1 is negative",
    ),
    "negative retry delay": (
        request(with_retry(stage("a"), delay=-2)),
        "stages[0].retry_policy.retry_delay_seconds: -2 is negative",
    ),
    "more attempts than one history holds": (
        request(with_retry(stage("a", workers=10), max_attempts=2**31 - 1)),
        "stages[0].retry_policy.max_attempts: 10 workers x 2147483647 attempts may write "
        "128849018820 history events, at most 8000 fit one stage's history",
    ),
    "a config too large for its workers' history": (
        request(
            with_retry(pb.PipelineStage(stage_id="a", worker_count=2, config=config_of(8)), 10)
        ),
        "stages[0].config: 2 workers x 10 attempts with this config may write",
    ),
    "a config too large for the workers an attempt starts together": (
        request(pb.PipelineStage(stage_id="a", worker_count=6, config=config_of(23))),
        "stages[0].config: with 6 workers makes the specs an attempt starts together about",
    ),
    "a config too large for one worker's spec": (
        request(pb.PipelineStage(stage_id="a", config=config_of(40))),
        "stages[0].config: makes each worker's spec about",
    ),
    "a request too large for Temporal to store": (
        request(*(pb.PipelineStage(stage_id=f"s{n}", config=config_of(23)) for n in range(3))),
        "request: is ",
    ),
    "a 3,000-character repository": (
        with_identity(request(stage("a")), repository="r" * 3000),
        "repository: has 3000 characters, at most 512",
    ),
    "stage ids that name their workers alike": (
        request(stage("Build"), stage("build")),
        "stages[1].stage_id: 'build' and stages[0].stage_id 'Build' name their workers alike",
    ),
    "stage ids alike but for '_' and '.'": (
        request(stage("a_b"), stage("a.b")),
        "stages[1].stage_id: 'a.b' and stages[0].stage_id 'a_b' name their workers alike",
    ),
    "pipeline_id ending in a newline": (
        named(request(stage("a")), "gw-newline\n"),
        "pipeline_id: 'gw-newline\\n' must be at most 63 characters",
    ),
    "NUL in a command": (
        request(pb.PipelineStage(stage_id="a", command=["sh", "-c\0"])),
        "stages[0].command[1]: contains a NUL character",
    ),
    "NUL in a config value": (
        request(pb.PipelineStage(stage_id="a", config={"TOKEN": "x\0y"})),
        "stages[0].config['TOKEN']: contains a NUL character",
    ),
    "a pending timeout of thirty nines": (
        request(
            pb.PipelineStage(stage_id="a", config={"ottoscaler.pending_timeout_seconds": "9" * 30})
        ),
        "stages[0].config['ottoscaler.pending_timeout_seconds']: '99999999999999999999' "
        "is not a whole number of seconds 0..86400",
    ),
    "a 68-year retry delay": (
        request(with_retry(stage("a"), max_attempts=2, delay=2**31 - 1)),
        "stages[0].retry_policy.retry_delay_seconds: 2147483647 is outside 0..86400 s",
    ),
    "a 68-year timeout": (
        request(with_field(stage("a"), timeout_seconds=2**31 - 1)),
        "stages[0].timeout_seconds: 2147483647 is outside 0..604800 s",
    ),
    "an endless mock worker": (
        request(stage("a", duration="inf")),
        "stages[0].config: mock.duration 'inf' is not float 0..604800",
    ),
    "a mock worker that lasts NaN seconds": (
        request(stage("a", pending="NaN")),
        "stages[0].config: mock.pending 'NaN' is not float 0..604800",
    ),
    "a mock worker printing a billion lines": (
        request(stage("a", lines=str(10**9))),
        "stages[0].config: mock.lines '1000000000' is not int 0..1000000",
    ),
    "stage id not a label value": (
        request(stage("Build Stage!")),
        "stages[0].stage_id: 'Build Stage!' must be at most 63 characters",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
async def test_bad_request_is_invalid_argument_and_starts_nothing(
    case: str, stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client
) -> None:
    bad, expected = BAD_REQUESTS[case]
    with pytest.raises(aio.AioRpcError) as raised:
        async for _ in stub.ExecutePipeline(bad):
            pass
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (raised.value.details() or "")
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(pipeline_workflow_id(bad.pipeline_id)).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    # The server keeps serving: a good pipeline right after runs to completion.
    events = [e async for e in stub.ExecutePipeline(request(stage("ok")))]
    assert events[-1].status == pb.STAGE_COMPLETED


async def test_zero_worker_count_means_one(stub: pb_grpc.OttoscalerServiceAsyncStub) -> None:
    events = [e async for e in stub.ExecutePipeline(request(stage("a", workers=0)))]
    done = next(e for e in events if e.stage_id == "a" and e.status == pb.STAGE_COMPLETED)
    assert done.metrics.total_workers == 1
    assert len(done.worker_pod_names) == 1
