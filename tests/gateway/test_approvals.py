"""Approval stages through the gRPC API (ApproveStage) and the `temporal` CLI, mock runtime."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc import aio
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from gateway.temporal.devserver import temporal_binary
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from workflows.workers.naming import pipeline_workflow_id

if TYPE_CHECKING:
    Stub = pb_grpc.OttoscalerServiceAsyncStub
    Events = aio.UnaryStreamCall[pb.PipelineRequest, pb.PipelineProgress]
# otto-handler's StageType APPROVAL on field 2, a varint: tag (2 << 3 | 0) = 0x10, then 7.
APPROVAL_VARINT = bytes([0x10, 7])


def gate(stage_id: str = "gate", *deps: str, timeout: int = 0) -> pb.PipelineStage:
    return pb.PipelineStage(
        stage_id=stage_id, type="approval", depends_on=deps, timeout_seconds=timeout
    )


def answer(
    pipeline_id: str, approved: bool = True, approver: str = "alice", **fields: str
) -> pb.ApproveStageRequest:
    return pb.ApproveStageRequest(
        pipeline_id=pipeline_id,
        stage_id=fields.get("stage_id", "gate"),
        approved=approved,
        approver=approver,
        comment=fields.get("comment", "ship it"),
    )


async def read_until_waiting(call: Events, stage_id: str = "gate") -> list[pb.PipelineProgress]:
    """The stream's events up to the one saying that stage_id waits for approval."""
    seen: list[pb.PipelineProgress] = []
    while True:
        event = await asyncio.wait_for(call.read(), 60)
        assert isinstance(event, pb.PipelineProgress), event
        seen.append(event)
        if event.stage_id == stage_id and event.message.startswith("waiting for approval"):
            return seen


async def rest(call: Events) -> list[pb.PipelineProgress]:
    """The stream's remaining events (read with read(): a call is read one way only)."""
    events = []
    while (event := await asyncio.wait_for(call.read(), 60)) is not aio.EOF:
        assert isinstance(event, pb.PipelineProgress)
        events.append(event)
    return events


async def test_an_approved_stage_completes_with_its_approver_and_comment(stub: Stub) -> None:
    req = request(stage("build"), gate("gate", "build"), stage("deploy", "gate"))
    call = stub.ExecutePipeline(req)
    seen = await read_until_waiting(call)
    waiting = seen[-1]
    # An old client knows RUNNING; the message says what it waits for.
    assert waiting.status == pb.STAGE_RUNNING
    assert waiting.message == "waiting for approval: answer with ApproveStage"
    snapshot = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    assert {s.stage_id: s.status for s in snapshot.stages}["deploy"] == pb.STAGE_PENDING

    reply = await stub.ApproveStage(answer(req.pipeline_id))
    assert reply.accepted
    assert reply.message == "stage gate approved by alice"
    events = seen + await rest(call)
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_COMPLETED)
    approved = next(e for e in events if e.stage_id == "gate" and e.status == pb.STAGE_COMPLETED)
    assert approved.message == "approved by alice"
    assert dict(approved.outputs) == {"approver": "alice", "comment": "ship it"}
    assert approved.worker_pod_names == []
    snapshot = await stub.GetPipeline(pb.PipelineRef(pipeline_id=req.pipeline_id))
    gate_state = next(s for s in snapshot.stages if s.stage_id == "gate")
    assert dict(gate_state.outputs) == {"approver": "alice", "comment": "ship it"}

    # A second answer comes too late: the stage is no longer waiting.
    with pytest.raises(aio.AioRpcError) as second:
        await stub.ApproveStage(answer(req.pipeline_id, approved=False, approver="bob"))
    assert second.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"pipeline {req.pipeline_id} has ended (completed)" in (second.value.details() or "")


async def test_a_rejected_stage_fails_saying_who_rejected_it(stub: Stub) -> None:
    req = request(gate(), stage("deploy", "gate"))
    call = stub.ExecutePipeline(req)
    await read_until_waiting(call)
    reply = await stub.ApproveStage(answer(req.pipeline_id, False, "bob", comment="not today"))
    assert reply.message == "stage gate rejected by bob"
    events = await rest(call)
    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_FAILED)
    assert final.error_message == "stage gate: rejected by bob: not today"
    statuses = {e.stage_id: e.status for e in events if e.stage_id}
    assert statuses == {"gate": pb.STAGE_FAILED, "deploy": pb.STAGE_SKIPPED}


async def test_answers_that_cannot_be_taken_are_refused_and_write_no_history(
    stub: Stub, client: Client
) -> None:
    req = request(stage("build", duration="600"), gate("gate", "build"), gate("second"))
    call = stub.ExecutePipeline(req)
    await read_until_waiting(call, "second")
    handle = client.get_workflow_handle(pipeline_workflow_id(req.pipeline_id))
    before = len((await handle.fetch_history()).events)
    # The Web UI's stage list says what the stage waits for.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert "- second: RUNNING · waiting for approval: answer with ApproveStage" in (
        metadata.current_details.splitlines()
    )

    async def refused(request: pb.ApproveStageRequest) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(aio.AioRpcError) as err:
            await stub.ApproveStage(request)
        return err.value.code(), err.value.details() or ""

    # "gate" waits for "build": it is not waiting yet.
    assert await refused(answer(req.pipeline_id)) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "stage_id: stage 'gate' is not waiting for approval (it is PENDING)",
    )
    assert await refused(answer(req.pipeline_id, stage_id="build")) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "stage_id: stage 'build' is a test stage, no approval",
    )
    assert await refused(answer(req.pipeline_id, stage_id="nope")) == (
        grpc.StatusCode.NOT_FOUND,
        "stage_id: the pipeline has no stage 'nope'",
    )
    assert len((await handle.fetch_history()).events) == before

    await stub.ApproveStage(answer(req.pipeline_id, stage_id="second"))
    assert await refused(answer(req.pipeline_id, False, "bob", stage_id="second")) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "stage_id: stage 'second' was already approved by 'alice'",
    )
    await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
    events = await rest(call)
    assert events[-1].status == pb.STAGE_CANCELLED
    statuses = {e.stage_id: e.status for e in events if e.stage_id}
    assert statuses == {
        "build": pb.STAGE_CANCELLED,
        "gate": pb.STAGE_CANCELLED,
        "second": pb.STAGE_COMPLETED,
    }


async def test_an_unknown_pipeline_is_not_found(stub: Stub) -> None:
    with pytest.raises(aio.AioRpcError) as err:
        await stub.ApproveStage(answer("no-such-pipeline"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "pipeline_id: no pipeline 'no-such-pipeline'"


BAD_ANSWERS = {
    "no pipeline id": (answer(""), "pipeline_id: is required"),
    "no stage id": (answer("p", stage_id=""), "stage_id: is required"),
    "a stage id too long": (
        answer("p", stage_id="s" * 64),
        f"stage_id: {'s' * 64!r} must be at most 63 characters",
    ),
    "no approver": (answer("p", approver=""), "approver: is required: who answers the approval"),
    "an approver too long": (answer("p", approver="a" * 257), "approver: has 257 characters"),
    "a NUL in the comment": (answer("p", comment="ok\0"), "comment: contains a NUL character"),
    "a comment too long": (answer("p", comment="c" * 1025), "comment: has 1025 characters"),
}


@pytest.mark.parametrize("bad", BAD_ANSWERS.values(), ids=list(BAD_ANSWERS))
async def test_bad_answers_are_invalid_arguments(
    stub: Stub, bad: tuple[pb.ApproveStageRequest, str]
) -> None:
    request_, message = bad
    with pytest.raises(aio.AioRpcError) as err:
        await stub.ApproveStage(request_)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith(message)


async def test_otto_handlers_enum_approval_waits_too(stub: Stub) -> None:
    """StageType APPROVAL arrives as a varint on the string field `type`."""
    wire = pb.PipelineStage(stage_id="gate").SerializeToString() + APPROVAL_VARINT
    approval = pb.PipelineStage.FromString(wire)
    assert approval.type == ""
    req = request(approval)
    call = stub.ExecutePipeline(req)
    await read_until_waiting(call)
    await stub.ApproveStage(answer(req.pipeline_id))
    assert (await rest(call))[-1].status == pb.STAGE_COMPLETED


async def test_the_temporal_cli_approves_with_an_update(stub: Stub, client: Client) -> None:
    req = request(gate())
    call = stub.ExecutePipeline(req)
    await read_until_waiting(call)
    body = {"stage_id": "gate", "approved": True, "approver": "carol", "comment": "via CLI"}
    process = await asyncio.create_subprocess_exec(
        str(temporal_binary()),
        "workflow",
        "update",
        "execute",
        "--address",
        client.service_client.config.target_host,
        "--workflow-id",
        pipeline_workflow_id(req.pipeline_id),
        "--name",
        "approve_stage",
        "--input",
        json.dumps(body),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "stage gate approved by carol" in out.decode()
    events = await rest(call)
    done = next(e for e in events if e.stage_id == "gate" and e.status == pb.STAGE_COMPLETED)
    assert dict(done.outputs) == {"approver": "carol", "comment": "via CLI"}
    history = await client.get_workflow_handle(
        pipeline_workflow_id(req.pipeline_id)
    ).fetch_history()
    kinds = [e.event_type for e in history.events]
    # The wait cost no timer: nothing polled.
    assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in kinds


# Run with the other bad requests in test_validation.py.
BAD_REQUESTS = {
    "an approval stage with an image": (
        request(pb.PipelineStage(stage_id="gate", type="approval", image="busybox")),
        "stages[0].image: an approval stage runs no worker; leave it empty",
    ),
    "an approval stage with a command": (
        request(pb.PipelineStage(stage_id="gate", type="approval", command=["true"])),
        "stages[0].command: an approval stage runs no worker; leave it empty",
    ),
    "an approval stage with two workers": (
        request(pb.PipelineStage(stage_id="gate", type="approval", worker_count=2)),
        "stages[0].worker_count: 2: an approval stage runs no worker",
    ),
    # Each answer may put 1,280 characters in the snapshot, which every query returns.
    "150 approval stages": (
        request(*(gate(f"gate-{n}") for n in range(150))),
        "stages: 150 stages of 150 workers in all make the pipeline's progress about",
    ),
    "an approval stage with a matrix": (
        request(
            pb.PipelineStage(
                stage_id="gate",
                type="approval",
                matrix=[pb.MatrixAxis(name="os", values=["linux", "mac"])],
            )
        ),
        "stages[0].matrix: an approval stage runs no worker; leave it empty",
    ),
    "an approval stage that is a cleanup stage": (
        request(pb.PipelineStage(stage_id="gate", type="approval", cleanup=True)),
        "stages[0].cleanup: an approval stage cannot be a cleanup stage",
    ),
}
