"""Workflows started around the gateway (issue 12, item 5).

Anyone who reaches the Temporal frontend can start PipelineWorkflow with any input,
without a token. On the local runtime each test's stage appends its pipeline id to a
marker file: what ran is what the file holds.
"""

from __future__ import annotations

import stat
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError

from activities.admission import SpecSigner
from gateway.app import Running, running_ottoscaler
from gateway.pipelines.stream import final_page
from gateway.settings import SIGNING_KEY_FILE, RuntimeKind, Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.base.checks import Limits
from workflows.pipeline.inputs import PipelineInput, StageInput
from workflows.pipeline.models import PipelineSnapshot, PipelineSpec, StageSpec, StageStatus
from workflows.pipeline.stage import StageWorkflow
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.workers.naming import pipeline_workflow_id, stage_workflow_id

MARK = 'echo "$OTTO_PIPELINE_ID" >> "$MARKER"'
NOT_SIGNED = "spec not signed by this Ottoscaler's gateway"


@pytest.fixture
def runtime_kind() -> RuntimeKind:
    return RuntimeKind.LOCAL


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The gateway tests' own (MAX_WORKERS_PER_TASK=10), with a data dir of the test's."""
    return settings.model_copy(update={"ottoscaler_data_dir": tmp_path / "data"})


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "ran"


def marked(marker: Path) -> list[str]:
    """The pipeline ids whose workers ran."""
    return marker.read_text().split() if marker.exists() else []


def marking_request(
    marker: Path, script: str = MARK, retry_policy: pb.RetryPolicy | None = None
) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"trust-{uuid.uuid4().hex[:10]}",
        stages=[
            pb.PipelineStage(
                stage_id="build",
                command=["sh", "-c", script],
                config={"MARKER": str(marker)},
                retry_policy=retry_policy,
            )
        ],
        repository="otto/demo",
        commit_sha="abc123",
    )


async def through_the_gateway(
    stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client, request: pb.PipelineRequest
) -> PipelineInput:
    """Runs the request through ExecutePipeline; the input the gateway started it with."""
    events = [event async for event in stub.ExecutePipeline(request)]
    assert events[-1].status == pb.STAGE_COMPLETED, events[-1]
    handle = client.get_workflow_handle_for(
        PipelineWorkflow.run, pipeline_workflow_id(request.pipeline_id)
    )
    return await handle.query(PipelineWorkflow.input)


async def ended(
    client: Client, settings: Settings, inp: PipelineInput, workflow_id: str
) -> PipelineSnapshot:
    """How a pipeline started straight on Temporal ended."""
    handle = await client.start_workflow(
        PipelineWorkflow.run, inp, id=workflow_id, task_queue=settings.temporal_task_queue
    )
    page = await final_page(handle)
    assert page is not None, "the run ended without a result"
    return page.snapshot


def forged(inp: PipelineInput, how: str) -> tuple[PipelineInput, str]:
    """What someone with only a Temporal client starts: an input and a workflow id."""
    spec = inp.spec
    (stage,) = spec.stages
    changes: dict[str, dict[str, Any]] = {
        "unsigned": {"signature": ""},
        "another command": {"command": ("sh", "-c", f"{MARK}; {MARK}")},
        "another worker count": {"worker_count": 2},
    }
    own_id = pipeline_workflow_id(spec.pipeline_id)
    if how == "another workflow id":
        return inp, f"elsewhere-{uuid.uuid4().hex[:8]}"
    stages = (stage.model_copy(update=changes[how]),)
    return inp.model_copy(update={"spec": spec.model_copy(update={"stages": stages})}), own_id


@pytest.mark.parametrize(
    "how", ["unsigned", "another command", "another worker count", "another workflow id"]
)
async def test_a_pipeline_started_around_the_gateway_runs_nothing_and_says_why(
    client: Client,
    settings: Settings,
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    marker: Path,
    how: str,
) -> None:
    request = marking_request(marker)
    signed = await through_the_gateway(stub, client, request)
    assert marked(marker) == [request.pipeline_id]

    inp, workflow_id = forged(signed, how)
    result = await ended(client, settings, inp, workflow_id)

    assert result.status is StageStatus.FAILED
    assert NOT_SIGNED in result.error_message
    assert "start pipelines and worker pools through the gateway" in result.error_message
    assert "(not retryable)" in result.error_message
    assert marked(marker) == [request.pipeline_id], "the forged run ran its command"


async def test_retry_pipeline_refuses_a_pipeline_the_gateway_did_not_sign(
    client: Client,
    settings: Settings,
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    marker: Path,
) -> None:
    """RetryPipeline would sign whatever the last run was started with: a run started
    around the gateway is not re-run with the gateway's signature."""
    request = marking_request(marker)
    signed = await through_the_gateway(stub, client, request)
    inp, workflow_id = forged(signed, "another command")
    await ended(client, settings, inp, workflow_id)

    with pytest.raises(aio.AioRpcError) as refused:
        _ = [
            e
            async for e in stub.RetryPipeline(
                pb.RetryPipelineRequest(pipeline_id=request.pipeline_id)
            )
        ]

    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "was not started through this Ottoscaler's gateway" in (refused.value.details() or "")
    assert marked(marker) == [request.pipeline_id]


async def test_a_stage_workflow_started_on_its_own_runs_nothing(
    client: Client,
    settings: Settings,
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    marker: Path,
) -> None:
    """A stage the gateway signed, started as a StageWorkflow of its pipeline's name."""
    request = marking_request(marker)
    spec = (await through_the_gateway(stub, client, request)).spec
    run = uuid.uuid4().hex
    stage_input = StageInput(
        pipeline_id=spec.pipeline_id,
        repository=spec.repository,
        commit_sha=spec.commit_sha,
        run=run,
        stage=spec.stages[0],
    )

    with pytest.raises(WorkflowFailureError) as failed:
        await client.execute_workflow(
            StageWorkflow.run,
            stage_input,
            id=stage_workflow_id(spec.pipeline_id, "build", run),
            task_queue=settings.temporal_task_queue,
        )

    assert "runs only as a child of its pipeline's workflow" in str(failed.value.cause)
    assert marked(marker) == [request.pipeline_id]


async def test_limits_in_a_workflow_input_never_raise_the_workers_own(
    client: Client, settings: Settings, ottoscaler: Running, marker: Path
) -> None:
    """A stage of 12 workers, signed with this Ottoscaler's key (as a gateway configured
    with a larger MAX_WORKERS_PER_TASK would), with limits that allow it: the workers
    hold to their own MAX_WORKERS_PER_TASK=10 and create none."""
    signer = SpecSigner(settings.signing_key)
    spec = PipelineSpec(
        pipeline_id=f"wide-{uuid.uuid4().hex[:10]}",
        stages=(
            StageSpec(
                stage_id="wide",
                worker_count=12,
                command=("sh", "-c", MARK),
                config={"MARKER": str(marker)},
            ),
        ),
    )
    inp = PipelineInput(spec=signer.signed_pipeline(spec), limits=Limits(max_workers_per_stage=12))

    result = await ended(client, settings, inp, pipeline_workflow_id(spec.pipeline_id))

    assert result.status is StageStatus.FAILED
    assert "worker_count 12 is over this worker's MAX_WORKERS_PER_TASK=10" in result.error_message
    assert marked(marker) == []
    assert await ottoscaler.runtime.list({"pipeline-id": spec.pipeline_id}) == []


async def test_a_pipeline_retried_after_a_restart_runs_with_the_kept_key(
    client: Client, settings: Settings, marker: Path
) -> None:
    """Without a token or key, `up` keeps a random key in its data dir: a pipeline signed
    before a restart still runs after it. Attempt 1 fails, and the restart happens during
    the retry delay; attempt 2 runs on the restarted Ottoscaler."""
    request = marking_request(
        marker,
        f'{MARK}; test "$OTTO_ATTEMPT" = 2',
        retry_policy=pb.RetryPolicy(max_attempts=2, retry_delay_seconds=2),
    )
    async with running_ottoscaler(settings, client) as first:
        address = f"127.0.0.1:{first.grpc_port}"
        async with aio.insecure_channel(address) as channel:
            call = pb_grpc.OttoscalerServiceStub(channel).ExecutePipeline(request)
            async for event in call:
                if event.status == pb.STAGE_RETRYING:
                    break
            call.cancel()
    key_file = settings.ottoscaler_data_dir / SIGNING_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    async with running_ottoscaler(settings, client) as second:
        address = f"127.0.0.1:{second.grpc_port}"
        async with aio.insecure_channel(address) as channel:
            watch = pb_grpc.OttoscalerServiceStub(channel).WatchPipeline(
                pb.PipelineRef(pipeline_id=request.pipeline_id)
            )
            events = [event async for event in watch]
            assert await watch.code() == grpc.StatusCode.OK

    assert events[-1].stage_id == "" and events[-1].status == pb.STAGE_COMPLETED, events[-1]
    assert marked(marker) == [request.pipeline_id] * 2


def test_replicas_sharing_the_token_share_the_signing_key(tmp_path: Path) -> None:
    """Replicas in a cluster have their own data dirs: the token alone makes their gateways'
    signatures good on each other's workers, and the key is not the token."""
    spec = PipelineSpec(pipeline_id="p", stages=(StageSpec(stage_id="s", command=("true",)),))

    def signed_by(data_dir: str, token: str) -> PipelineSpec:
        settings = Settings(
            ottoscaler_data_dir=tmp_path / data_dir, ottoscaler_auth_token=SecretStr(token)
        )
        return SpecSigner(settings.signing_key).signed_pipeline(spec)

    assert signed_by("a", "token-1") == signed_by("b", "token-1")
    assert signed_by("a", "token-1") != signed_by("a", "token-2")
    assert SpecSigner(b"token-1").signed_pipeline(spec) != signed_by("a", "token-1")
    assert not (tmp_path / "a").exists(), "no key file is made when the token gives the key"
