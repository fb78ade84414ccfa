"""Stage outputs through the gRPC API: in the COMPLETED event, GetPipeline, downstream
workers' environment and `when`; bad outputs and disagreeing shards fail the stage."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from gateway.app import Running
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.history_specs import scheduled_specs
from tests.gateway.sample_runs import sample_output
from tests.gateway.test_execute_pipeline import request, stage
from tests.gateway.test_pipeline_lifecycle import sh


def outputs_of(events: list[pb.PipelineProgress]) -> dict[str, dict[str, str]]:
    return {
        e.stage_id: dict(e.outputs)
        for e in events
        if e.stage_id and e.status == pb.STAGE_COMPLETED and e.outputs
    }


def when(s: pb.PipelineStage, expression: str) -> pb.PipelineStage:
    s.when = expression
    return s


def local_request(*stages: pb.PipelineStage, **fields: Any) -> pb.PipelineRequest:
    return pb.PipelineRequest(pipeline_id=f"out-{uuid.uuid4().hex[:8]}", stages=stages, **fields)


async def test_outputs_reach_the_event_get_pipeline_downstream_env_and_conditions(
    stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client
) -> None:
    req = request(
        stage("build", workers=2, outputs="version=1.2.3\n# a comment\nchannel=beta\n"),
        stage("test", "build", outputs="seen=${OTTO_OUTPUT_BUILD_VERSION}"),
        when(
            stage("deploy", "test", outputs="channel_seen=${OTTO_OUTPUT_BUILD_CHANNEL}"),
            'stages.test.outputs.seen == "1.2.3"',
        ),
        when(stage("stable-only", "build"), 'stages.build.outputs.channel == "stable"'),
    )
    events = [event async for event in stub.ExecutePipeline(req)]

    assert events[-1].status == pb.STAGE_COMPLETED
    assert outputs_of(events) == {
        "build": {"version": "1.2.3", "channel": "beta"},  # both shards agreed
        "test": {"seen": "1.2.3"},
        "deploy": {"channel_seen": "beta"},  # from two stages upstream
    }
    skipped = {e.stage_id: e.message for e in events if e.status == pb.STAGE_SKIPPED}
    assert skipped == {"stable-only": 'when: stages.build.outputs.channel == "stable" is false'}
    snapshot = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert {s.stage_id: dict(s.outputs) for s in snapshot.stages} == {
        "build": {"version": "1.2.3", "channel": "beta"},
        "test": {"seen": "1.2.3"},
        "deploy": {"channel_seen": "beta"},
        "stable-only": {},
    }
    deploy_env = next(
        s.env for s in await scheduled_specs(client, req.pipeline_id) if "deploy" in s.name
    )
    assert {k: v for k, v in deploy_env.items() if k.startswith("OTTO_OUTPUT_")} == {
        "OTTO_OUTPUT_BUILD_VERSION": "1.2.3",
        "OTTO_OUTPUT_BUILD_CHANNEL": "beta",
        "OTTO_OUTPUT_TEST_SEEN": "1.2.3",
    }


async def test_bad_outputs_fail_the_stage_naming_the_worker_line_and_limit_without_retry(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    bad = stage("build", outputs="ok=1\nbig=" + "x" * 2000)
    bad.retry_policy.CopyFrom(pb.RetryPolicy(max_attempts=3))
    req = request(bad, stage("test", "build"))
    events = [event async for event in stub.ExecutePipeline(req)]

    failed = next(e for e in events if e.stage_id == "build" and e.status == pb.STAGE_FAILED)
    assert failed.error_message.startswith("shard 0 of 1: InvalidOutputs: worker ")
    assert failed.error_message.endswith(
        ": OTTO_OUTPUTS line 2: the value of 'big' has 2000 bytes, at most 1024 (not retryable)"
    )
    assert failed.message == "0/1 workers succeeded in 1 attempt(s)"
    assert (events[-1].stage_id, events[-1].status) == ("", pb.STAGE_FAILED)


async def test_shards_that_disagree_fail_the_stage_naming_the_key_and_shards(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(stage("build", workers=3, outputs="same=1\nshard=${OTTO_WORKER_INDEX}"))
    events = [event async for event in stub.ExecutePipeline(req)]

    failed = next(e for e in events if e.stage_id == "build" and e.status == pb.STAGE_FAILED)
    assert failed.error_message == (
        "outputs: key 'shard' is '0' in shard 0 and '1' in shard 1; "
        "shards must agree on a key's value"
    )
    assert not failed.outputs


async def test_two_upstream_outputs_naming_one_variable_fail_the_stage_before_it_starts(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = request(
        stage("a", outputs="b_c=1"),
        stage("a_b", outputs="c=2"),
        stage("d", "a", "a_b"),
    )
    events = [event async for event in stub.ExecutePipeline(req)]

    failed = next(e for e in events if e.stage_id == "d" and e.status == pb.STAGE_FAILED)
    assert "both name OTTO_OUTPUT_A_B_C" in failed.error_message
    assert not [e for e in events if e.stage_id == "d" and e.worker_pod_names]


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_local_workers_write_outputs_to_their_own_file(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = local_request(
        sh("build", 'echo "version=2.0" > "$OTTO_OUTPUTS"; echo "url=x=y" >> "$OTTO_OUTPUTS"'),
        sh("test", 'echo "got=$OTTO_OUTPUT_BUILD_VERSION" > "$OTTO_OUTPUTS"', "build"),
        sh("fifo", 'rm -f "$OTTO_OUTPUTS"; mkfifo "$OTTO_OUTPUTS"', "build"),
    )
    events = [event async for event in stub.ExecutePipeline(req)]

    assert outputs_of(events) == {"build": {"version": "2.0", "url": "x=y"}, "test": {"got": "2.0"}}
    fifo = next(e for e in events if e.stage_id == "fifo" and e.status == pb.STAGE_FAILED)
    assert "InvalidOutputs" in fifo.error_message
    assert "OTTO_OUTPUTS is not a regular file" in fifo.error_message


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_test_pipeline_outputs_passes_the_version_downstream(
    ottoscaler: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    out = await sample_output(ottoscaler, "outputs", capsys)
    assert "outputs: version=1.4.1" in out
    assert "[test] testing 1.4.1" in out
    assert "outputs: tested=1.4.1" in out
    assert "[deploy] deployed 1.4.1" in out


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_retry_pipeline_passes_on_the_outputs_of_the_stages_it_reuses(
    stub: pb_grpc.OttoscalerServiceAsyncStub, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    script = f'test -e {fixed} && echo "got=$OTTO_OUTPUT_BUILD_VERSION" > "$OTTO_OUTPUTS"'
    req = local_request(
        sh("build", 'echo "version=7" > "$OTTO_OUTPUTS"'), sh("test", script, "build")
    )
    first = [event async for event in stub.ExecutePipeline(req)]
    assert first[-1].status == pb.STAGE_FAILED
    fixed.touch()

    retry = pb.RetryPipelineRequest(pipeline_id=req.pipeline_id)
    again = [event async for event in stub.RetryPipeline(retry)]

    assert again[-1].status == pb.STAGE_COMPLETED
    reused = next(e for e in again if e.stage_id == "build" and e.status == pb.STAGE_COMPLETED)
    assert reused.message == "reused from the previous run"
    assert outputs_of(again) == {"build": {"version": "7"}, "test": {"got": "7"}}


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_a_secret_written_to_outputs_is_masked(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
) -> None:
    req = local_request(
        sh("build", 'echo "token=$API_TOKEN" > "$OTTO_OUTPUTS"'),
        secrets={"API_TOKEN": "s3cr3t-t0ken"},
    )
    events = [event async for event in stub.ExecutePipeline(req)]

    assert outputs_of(events) == {"build": {"token": "***"}}
