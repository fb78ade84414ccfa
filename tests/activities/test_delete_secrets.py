"""delete_secrets deletes only a store of the calling pipeline's own: a workflow started
around the gateway cannot wipe another run's secrets by naming its store."""

from __future__ import annotations

import dataclasses

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.capacity import Unlimited
from activities.runtimes.mock.runtime import MockRuntime
from activities.secrets.files import FileSecretStore
from activities.workers.lifecycle import WorkerActivities
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.spec import Labels


def called_by(workflow_id: str) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id)
    return env


async def test_only_the_owning_pipeline_deletes_its_store() -> None:
    store = FileSecretStore()
    await store.put("run-a", {Labels.PIPELINE_ID: "a"}, {"TOKEN": "s3cr3t"})
    activities = WorkerActivities(MockRuntime(store), Unlimited())

    with pytest.raises(ApplicationError, match="belongs to pipeline 'a', not to 'pipeline-b'"):
        await called_by(pipeline_workflow_id("b")).run(activities.delete_secrets, "run-a")
    assert await store.read("run-a") == {"TOKEN": "s3cr3t"}

    await called_by(pipeline_workflow_id("a")).run(activities.delete_secrets, "run-a")
    assert await store.list() == []
    # Gone already: nothing to do, nothing to refuse.
    await called_by(pipeline_workflow_id("b")).run(activities.delete_secrets, "run-a")
