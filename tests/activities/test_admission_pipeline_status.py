"""OTTO_PIPELINE_STATUS is the one environment variable the workflow sets outside the
signature (a cleanup stage learns it late): the activities admit only an outcome there."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from tests.builders import mock_stage, pipeline
from tests.signing import SIGNER, admission
from workflows.pipeline.shards import StageContext
from workflows.workers.calls import UNSIGNED_SPEC
from workflows.workers.naming import pipeline_workflow_id


def cleanup_worker_env(status: str) -> dict[str, str]:
    spec = SIGNER.signed_pipeline(
        pipeline(mock_stage("teardown").model_copy(update={"cleanup": True, "timeout_seconds": 60}))
    )
    ctx = StageContext(
        spec.pipeline_id, spec.repository, spec.commit_sha, "run", spec.stages[0], None, status
    )
    worker = admission().admit(ctx.worker_spec(0, 1), pipeline_workflow_id(spec.pipeline_id))
    return worker.env


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED"])
def test_a_cleanup_worker_is_admitted_with_the_outcome(status: str) -> None:
    assert cleanup_worker_env(status)["OTTO_PIPELINE_STATUS"] == status


def test_anything_else_there_is_refused() -> None:
    with pytest.raises(ApplicationError) as refused:
        cleanup_worker_env("$(rm -rf /)")
    assert refused.value.type == UNSIGNED_SPEC
