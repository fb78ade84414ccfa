"""The Temporal client: one data converter (pydantic, with the payload codec when a key
is set) for every call, and the workflows that Ottoscaler's workers run and replay."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.converter import PayloadCodec

from gateway.temporal.codec import data_converter
from workflows.pipeline.stage import StageWorkflow
from workflows.pipeline.workflow import PipelineWorkflow
from workflows.pool.workflow import WorkerPoolWorkflow
from workflows.reaper.workflow import ReaperWorkflow

WORKFLOWS = [PipelineWorkflow, StageWorkflow, WorkerPoolWorkflow, ReaperWorkflow]


async def connect(address: str, namespace: str, codec: PayloadCodec | None = None) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=data_converter(codec))
