"""The committed histories replay with the current workflow code (`make histories`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from gateway.temporal.replay import history_from_file, replay
from workflows.pipeline.inputs import PipelineInput

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
SCENARIOS = {
    "chain",
    "diamond",
    "retry",
    "timeout",
    "cancel",
    "failure",
    "children",
    "child-failure",
    "room",
    "deadline",
    "conditional",
    "approval",
    "cleanup",
    "cleanup-cancel",
    "outputs",
    "matrix",
}
# Recorded before failed runs ended failed (a failed pipeline completed then): such runs
# must still replay, so a query on an old failed pipeline keeps working. Not re-recorded.
BEFORE_FAILED_RUNS_FAIL = "failure-before-failed-runs-fail.json"


def test_every_scenario_has_its_history_and_children_theirs() -> None:
    names = {path.name for path in HISTORIES}
    assert {f"{scenario}.json" for scenario in SCENARIOS} | {BEFORE_FAILED_RUNS_FAIL} <= names
    assert [n for n in sorted(names) if ".stage-" in n] == [
        "child-failure.stage-wide-a.json",
        "children.stage-wide-a.json",
    ]


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays_with_current_code(path: Path) -> None:
    outcome = await replay(history_from_file(path), str(path))
    assert outcome.error == ""


@workflow.defn(name="PipelineWorkflow", sandboxed=False)
class PipelineWorkflowThatSkipsItsWorkers:
    """A change that would break running pipelines: it no longer schedules activities."""

    @workflow.run
    async def run(self, inp: PipelineInput) -> None:
        await asyncio.sleep(0)


async def test_an_incompatible_change_is_caught() -> None:
    chain = next(p for p in HISTORIES if p.name == "chain.json")
    changed = Replayer(
        workflows=[PipelineWorkflowThatSkipsItsWorkers], data_converter=pydantic_data_converter
    )
    result = await changed.replay_workflow(history_from_file(chain), raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, workflow.NondeterminismError)
