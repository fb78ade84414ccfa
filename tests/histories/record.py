"""`make histories`: records the pipeline histories that the replay tests replay.

Runs each scenario on a fresh Temporal dev server with the mock runtime and writes the
pipeline's history, and each stage child's where a stage runs in one, as JSON beside
this file. Re-record after an
intended workflow change that needs no patch, and commit the result
(`python -m tests.histories.record outputs matrix` records only the scenarios named).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.capacity import WorkerLedger
from activities.runtimes.mock.runtime import MockRuntime
from gateway.pipelines.stream import final_page
from gateway.temporal.devserver import temporal_binary
from gateway.temporal.replay import fetch_with_children
from gateway.worker import create_worker
from tests.builders import mock_stage, pipeline, start, worker
from tests.signing import admission
from tests.waiting import eventually
from workflows.pipeline.approval import ApprovalAnswer
from workflows.pipeline.matrix import MatrixAxis
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.pipeline.workflow import PipelineWorkflow

HERE = Path(__file__).resolve().parent


def _cleanup(stage: StageSpec, when: str) -> StageSpec:
    return stage.model_copy(update={"cleanup": True, "when": when})


def with_config(stage: StageSpec, config: dict[str, str]) -> StageSpec:
    return stage.model_copy(update={"config": {**stage.config, **config}})


SCENARIOS: dict[str, PipelineSpec] = {
    "chain": pipeline(
        mock_stage("build"), mock_stage("test", "build"), mock_stage("deploy", "test")
    ),
    "diamond": pipeline(
        mock_stage("a"),
        mock_stage("b", "a", workers=2),
        mock_stage("c", "a"),
        mock_stage("d", "b", "c"),
    ),
    "retry": pipeline(mock_stage("flaky", fail_attempts=1, max_attempts=2, retry_delay=1)),
    "timeout": pipeline(mock_stage("slow", duration=5, timeout=1), mock_stage("after", "slow")),
    "failure": pipeline(
        mock_stage("build", exit_code=2), mock_stage("deploy", "build"), mock_stage("lint")
    ),
    "cancel": pipeline(mock_stage("slow", duration=60), mock_stage("after", "slow")),
    # Three stages that may write 2,700 events each pass the pipeline's history budget:
    # the first moves to a StageWorkflow child.
    "children": pipeline(*(mock_stage(f"wide-{n}", workers=10, max_attempts=45) for n in "abc")),
    # The same, with the child's stage failing: the child workflow fails, and so does the
    # pipeline.
    "child-failure": pipeline(
        mock_stage("wide-a", workers=10, max_attempts=45, exit_code=1, retryable=["OOMKilled"]),
        *(mock_stage(f"wide-{n}", workers=10, max_attempts=45) for n in "bc"),
    ),
    # Run where MAX_WORKERS is 1: the second worker waits for room, and says so.
    "room": pipeline(mock_stage("crowded", workers=2, duration=3)),
    # The pipeline's 2-second deadline passes while "slow" runs: it is cancelled.
    "deadline": pipeline(mock_stage("slow", duration=60), mock_stage("after", "slow")).model_copy(
        update={"timeout_seconds": 2}
    ),
    # "deploy"'s condition is false: it and "smoke" are skipped; "notify" runs.
    "conditional": pipeline(
        mock_stage("build"),
        mock_stage("deploy", "build").model_copy(
            update={"when": 'pipeline.metadata.branch == "main"'}
        ),
        mock_stage("smoke", "deploy"),
        mock_stage("notify", "deploy").model_copy(
            update={"when": 'stages.deploy.status == "SKIPPED"'}
        ),
    ).model_copy(update={"metadata": {"branch": "feature"}}),
    # "gate" waits for its approval, which the recorder gives; "deploy" runs after it.
    "approval": pipeline(
        mock_stage("build"),
        StageSpec(stage_id="gate", type="approval", depends_on=("build",), timeout_seconds=3600),
        mock_stage("deploy", "gate"),
    ),
    # "build" fails; then the cleanup stages run, one only when the pipeline failed.
    "cleanup": pipeline(
        mock_stage("build", exit_code=2),
        _cleanup(mock_stage("report", timeout=60), 'pipeline.status == "FAILED"'),
        _cleanup(mock_stage("teardown", "report", timeout=60), ""),
    ),
    # Cancelled while "slow" runs: the cleanup stage runs, the pipeline ends cancelled.
    "cleanup-cancel": pipeline(
        mock_stage("slow", duration=60), _cleanup(mock_stage("teardown", timeout=60), "")
    ),
    # "build"'s two shards write the same version; "test" sees it in its environment and
    # in its condition, and reports it back.
    "outputs": pipeline(
        with_config(mock_stage("build", workers=2), {"mock.outputs": "version=1.2.3"}),
        with_config(
            mock_stage("test", "build"), {"mock.outputs": "seen=${OTTO_OUTPUT_BUILD_VERSION}"}
        ).model_copy(update={"when": 'stages.build.outputs.version == "1.2.3"'}),
    ),
    # One shard per combination of os and py, each writing its own key.
    "matrix": pipeline(
        with_config(
            mock_stage("test", workers=4),
            {"mock.outputs": "${OTTO_MATRIX_OS}_${OTTO_WORKER_INDEX}=ok"},
        ).model_copy(
            update={
                "matrix": (
                    MatrixAxis(name="os", values=("linux", "mac")),
                    MatrixAxis(name="py", values=("3.11", "3.12")),
                )
            }
        ),
        mock_stage("report", "test"),
    ),
}
CROWDED = {"room"}
CANCELLED = {"cancel", "cleanup-cancel"}


@asynccontextmanager
async def crowded_worker(client: Client, task_queue: str) -> AsyncIterator[None]:
    """A Temporal worker whose MAX_WORKERS is 1."""
    runtime = MockRuntime()
    capacity = WorkerLedger(1)
    async with (
        capacity.following(runtime),
        create_worker(client, task_queue, runtime, admission(), capacity=capacity),
    ):
        yield


async def _run(client: Client, task_queue: str, name: str, spec: PipelineSpec) -> None:
    handle = await start(client, task_queue, spec)
    if name == "approval":

        async def gate_waits() -> bool:
            page = await handle.query(PipelineWorkflow.progress, 0)
            return any(e.message.startswith("waiting for approval") for e in page.events)

        await eventually(gate_waits)
        answer = ApprovalAnswer(stage_id="gate", approved=True, approver="recorder", comment="ok")
        await handle.execute_update(PipelineWorkflow.approve_stage, answer)
    if name in CANCELLED:

        async def stage_started() -> bool:
            page = await handle.query(PipelineWorkflow.progress, 0)
            return any(e.worker_pod_names for e in page.events)

        await eventually(stage_started)
        await handle.cancel(reason="recorded cancel")
    if await final_page(handle) is None and name not in CANCELLED:
        raise AssertionError(f"{name}: the run ended without its result")


async def record(names: list[str]) -> list[Path]:
    """Records the named scenarios, every one when none is named."""
    written: list[Path] = []
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_binary()),
    )
    try:
        task_queue = f"histories-{uuid.uuid4().hex[:8]}"
        crowded_queue = f"{task_queue}-crowded"
        async with worker(env.client, task_queue), crowded_worker(env.client, crowded_queue):
            for name, spec in SCENARIOS.items():
                if names and name not in names:
                    continue
                spec = spec.model_copy(update={"pipeline_id": f"history-{name}"})
                queue = crowded_queue if name in CROWDED else task_queue
                await _run(env.client, queue, name, spec)
                for history in await fetch_with_children(
                    env.client, f"pipeline-{spec.pipeline_id}"
                ):
                    stage = history.workflow_id.split("/")[1] if "/" in history.workflow_id else ""
                    path = HERE / (f"{name}.stage-{stage}.json" if stage else f"{name}.json")
                    path.write_text(history.to_json())
                    written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record(sys.argv[1:])):
        print(path.relative_to(HERE.parent.parent))
