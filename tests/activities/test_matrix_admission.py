"""One signature per matrix stage holds for each shard's own combination, and only for it."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from tests.builders import pipeline
from tests.signing import SIGNER, admission
from workflows.pipeline.matrix import MatrixAxis
from workflows.pipeline.models import StageSpec
from workflows.pipeline.shards import StageContext
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import WorkerSpec

AXES = (
    MatrixAxis(name="os", values=("linux", "mac")),
    MatrixAxis(name="py", values=("3.11", "3.12")),
)


def shard_spec(shard: int) -> tuple[WorkerSpec, str]:
    spec = SIGNER.signed_pipeline(
        pipeline(StageSpec(stage_id="test", worker_count=4, matrix=AXES, command=("true",)))
    )
    ctx = StageContext(spec.pipeline_id, spec.repository, spec.commit_sha, "run-1", spec.stages[0])
    return ctx.worker_spec(shard, 1), pipeline_workflow_id(spec.pipeline_id)


@pytest.mark.parametrize("shard", range(4))
def test_every_shard_of_a_signed_matrix_stage_is_admitted(shard: int) -> None:
    worker, workflow_id = shard_spec(shard)
    admitted = admission().admit(worker, workflow_id)
    assert admitted.env["OTTO_MATRIX_OS"] == AXES[0].values[shard // 2]
    assert admitted.labels["ottoscaler.io/matrix-py"] == AXES[1].values[shard % 2]


@pytest.mark.parametrize(
    "forge",
    [
        {"env": {"OTTO_MATRIX_OS": "windows"}},
        {"env": {"OTTO_MATRIX_EXTRA": "1"}},
        {"env": {"OTTO_MATRIX": '[["os",["windows"]],["py",["3.11","3.12"]]]'}},
        {"labels": {"ottoscaler.io/matrix-os": "mac"}},
    ],
    ids=["a value of no axis", "an axis not declared", "other axes", "a label of another shard"],
)
def test_a_shard_with_a_forged_combination_is_refused(forge: dict[str, dict[str, str]]) -> None:
    worker, workflow_id = shard_spec(0)
    forged = worker.model_copy(
        update={part: {**getattr(worker, part), **values} for part, values in forge.items()}
    )
    with pytest.raises(ApplicationError) as refused:
        admission().admit(forged, workflow_id)
    assert refused.value.type == "UnsignedSpec"
