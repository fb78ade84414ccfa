"""Stage conditions evaluated as the workflow evaluates them (no server needed)."""

from __future__ import annotations

import pytest

from workflows.pipeline.conditions import ConditionError, evaluate
from workflows.pipeline.models import PipelineSpec, StageSpec, StageStatus

SPEC = PipelineSpec(pipeline_id="p", stages=(), triggered_by="release", metadata={"branch": "main"})


def holds(expression: str, status: StageStatus = StageStatus.COMPLETED) -> bool:
    stage = StageSpec(stage_id="deploy", depends_on=("build",), when=expression)
    return evaluate(SPEC, stage, {"build": status}, {})


def test_conditions_see_the_pipeline_and_their_dependencies() -> None:
    assert holds('pipeline.triggered_by == "release" && stages.build.status == "COMPLETED"')
    assert not holds('stages["build"].status == "COMPLETED"', StageStatus.SKIPPED)
    assert holds('has(pipeline.metadata.branch) && pipeline.metadata.branch.startsWith("ma")')
    assert holds("size(stages.build.outputs) == 0")


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ('pipeline.metadata.tag == "v1"', "no such member"),
        ("pipeline.id", "is a StringType, not a bool"),
    ],
)
def test_a_condition_that_is_no_bool_raises(expression: str, error: str) -> None:
    with pytest.raises(ConditionError, match=error):
        holds(expression)
