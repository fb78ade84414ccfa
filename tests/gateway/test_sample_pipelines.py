"""`test-pipeline -type approval -approve` and `-type cleanup` on the local runtime."""

from __future__ import annotations

import asyncio

import pytest

from gateway.app import Running
from gateway.cli.test_pipeline import main
from gateway.settings import RuntimeKind

SAMPLES = {
    "approval": (
        ["-type", "approval", "-approve"],
        [
            "waiting for approval (at most 600s): answer with ApproveStage",
            "approve-deploy: stage approve-deploy approved by test-pipeline",
        ],
    ),
    # Its cleanup stage's worker prints OTTO_PIPELINE_STATUS.
    "cleanup": (
        ["-type", "cleanup", "-logs"],
        ["[teardown] the pipeline is COMPLETED", 'when: pipeline.status == "FAILED" is false'],
    ),
}


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
@pytest.mark.parametrize("sample", list(SAMPLES))
async def test_the_sample_runs_and_completes(
    ottoscaler: Running, capsys: pytest.CaptureFixture[str], sample: str
) -> None:
    flags, expected = SAMPLES[sample]
    argv = ["-server", f"127.0.0.1:{ottoscaler.grpc_port}", *flags]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out
    for line in expected:
        assert line in out
    assert out.splitlines()[-1] == "pipeline completed"
