"""`test-pipeline -approve`: answers each approval stage of the followed pipeline as it waits."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from gateway.server.auth import metadata_from_env
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.pipeline.approval import WAITING


def waits_for_approval(event: pb.PipelineProgress) -> bool:
    return (
        bool(event.stage_id)
        and event.status == pb.STAGE_RUNNING
        and event.message.startswith(WAITING)
    )


async def approving(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    events: AsyncIterable[pb.PipelineProgress],
    approver: str,
) -> AsyncIterator[pb.PipelineProgress]:
    """The events, unchanged; after each that says a stage waits, ApproveStage for it."""
    async for event in events:
        yield event
        if waits_for_approval(event):
            reply = await stub.ApproveStage(
                pb.ApproveStageRequest(
                    pipeline_id=event.pipeline_id,
                    stage_id=event.stage_id,
                    approved=True,
                    approver=approver,
                    comment=f"approved by {approver} -approve",
                ),
                metadata=metadata_from_env(),
            )
            print(f"{event.stage_id}: {reply.message}")
