"""The pipeline every reliability test runs: a diamond of stages, several pods each."""

from __future__ import annotations

import uuid

from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.workers.naming import stage_worker_name

# stage -> (its dependencies, its worker count)
STAGES: dict[str, tuple[tuple[str, ...], int]] = {
    "build": ((), 4),
    "unit": (("build",), 3),
    "lint": (("build",), 3),
    "package": (("unit", "lint"), 4),
}
FIRST = "build"
# The first stage's pods run until the test ends them (KubeEmulator.exit), so the crash
# always lands while they run, however long the old process takes to stop.
HELD_SECONDS = "600"
POD_SECONDS = "1"


def diamond_request() -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"rel-{uuid.uuid4().hex[:8]}",
        repository="otto/demo",
        commit_sha="abc123",
        stages=[
            pb.PipelineStage(
                stage_id=stage_id,
                type="test",
                worker_count=workers,
                depends_on=depends_on,
                config={"FAKE_DURATION": HELD_SECONDS if stage_id == FIRST else POD_SECONDS},
            )
            for stage_id, (depends_on, workers) in STAGES.items()
        ],
    )


def expected_pods(pipeline_id: str, run_id: str) -> dict[str, list[str]]:
    """Each stage's pod names: one attempt each, named by the run that owns them."""
    return {
        stage_id: [stage_worker_name(pipeline_id, stage_id, shard, 1, run_id) for shard in range(n)]
        for stage_id, (_, n) in STAGES.items()
    }
