"""What the tests wait on and check in the API emulator and in Temporal."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE
from workflows.workers.calls import RUN_WORKER
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import Labels


def running_pods(emulator: KubeEmulator, stage_id: str) -> int:
    return sum(
        1
        for pod in emulator.pods(NAMESPACE)
        if pod["metadata"]["labels"].get(Labels.STAGE_ID) == stage_id
        and pod["status"].get("phase") == "Running"
    )


def pod_creations(emulator: KubeEmulator) -> Counter[str]:
    """How many times each pod was created: a retry that created a second would show 2 (a
    retried create that found its pod, answered 409 and adopted it, counts once)."""
    with emulator.store.changed:
        return Counter(emulator.store.creations)


async def workers_followed(client: Client, pipeline_id: str, run_id: str, workers: int) -> bool:
    """The pipeline's only running stage has `workers` run_worker activities started on a
    worker: crashing now hits each while it follows its running pod."""
    handle = client.get_workflow_handle(pipeline_workflow_id(pipeline_id), run_id=run_id)
    pending = (await handle.describe()).raw_description.pending_activities
    started = sum(
        1
        for activity in pending
        if activity.activity_type.name == RUN_WORKER
        and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    )
    return started == workers
