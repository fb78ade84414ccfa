"""The committed histories replay with the current workflow code (`make histories`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from gateway.temporal.replay import history_from_file, replay
from workflows.pipeline.inputs import StageInput, StageResult
from workflows.pipeline.models import StageStatus

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
SCENARIOS = {"chain", "diamond", "retry", "timeout", "cancel", "failure"}


def test_every_scenario_has_histories_of_pipeline_and_stages() -> None:
    names = {path.name for path in HISTORIES}
    for scenario in SCENARIOS:
        assert f"{scenario}.json" in names
        assert any(n.startswith(f"{scenario}.stage-") for n in names)


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_with_current_code(path: Path) -> None:
    outcome = await replay(history_from_file(path), str(path))
    assert outcome.error == ""


@workflow.defn(name="StageWorkflow", sandboxed=False)
class StageWorkflowThatSkipsItsWorkers:
    """A change that would break running stages: it no longer schedules activities."""

    @workflow.run
    async def run(self, inp: StageInput) -> StageResult:
        await asyncio.sleep(0)
        return StageResult(status=StageStatus.COMPLETED, attempt=1, worker_pod_names=(), message="")


async def test_an_incompatible_change_is_caught() -> None:
    chain_stage = next(p for p in HISTORIES if p.name.startswith("chain.stage-"))
    changed = Replayer(
        workflows=[StageWorkflowThatSkipsItsWorkers], data_converter=pydantic_data_converter
    )
    result = await changed.replay_workflow(
        history_from_file(chain_stage), raise_on_replay_failure=False
    )
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
