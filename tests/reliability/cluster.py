"""What the tests wait on and check in the API emulator and in Temporal."""

from __future__ import annotations

from collections import Counter

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE
from workflows.workers.calls import AWAIT_WORKER, CREATE_WORKER
from workflows.workers.naming import stage_workflow_id
from workflows.workers.spec import Labels


def running_pods(emulator: KubeEmulator, stage_id: str) -> int:
    return sum(
        1
        for pod in emulator.pods(NAMESPACE)
        if pod["metadata"]["labels"].get(Labels.STAGE_ID) == stage_id
        and pod["status"].get("phase") == "Running"
    )


def pod_creations(emulator: KubeEmulator) -> Counter[str]:
    """How many times each pod name was POSTed: a retried create would show as 2."""
    return Counter(
        request.body["metadata"]["name"]
        for request in emulator.requests
        if request.method == "POST"
    )


async def only_awaiting(
    client: Client, pipeline_id: str, run_id: str, stage_id: str, workers: int
) -> bool:
    """Every create of the stage reported back and every await runs on a worker.

    Crashing then, the crash hits each await, no create is in doubt (so the strict
    one-POST-per-pod check holds) and none has to wait out its 60 s start-to-close timeout.
    """
    handle = client.get_workflow_handle(stage_workflow_id(pipeline_id, stage_id, run_id))
    pending = (await handle.describe()).raw_description.pending_activities
    kinds = Counter(activity.activity_type.name for activity in pending)
    started = sum(
        1
        for activity in pending
        if activity.activity_type.name == AWAIT_WORKER
        and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
    )
    return kinds[CREATE_WORKER] == 0 and started == workers
