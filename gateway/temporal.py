"""Temporal client and worker construction: one data converter, one task queue."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.runtime import WorkerRuntime
from activities.workers import WorkerActivities
from workflows.pipeline import PipelineWorkflow
from workflows.stage import StageWorkflow

WORKFLOWS = [PipelineWorkflow, StageWorkflow]


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


def create_worker(client: Client, task_queue: str, runtime: WorkerRuntime) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=WorkerActivities(runtime).all(),
    )
