"""Following a pipeline's progress stream to its end, with its workers' lines when asked.

Shared by test-pipeline and the ottoscaler verbs submit, watch and retry. Exit codes:
0 the pipeline completed, 1 it failed (or the stream ended before the pipeline did),
130 it was cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
from collections.abc import AsyncIterable

from grpc import aio

from gateway.cli.output import Output
from gateway.cli.time_order import TimeOrder, parse_timestamp
from gateway.server.auth import metadata_from_env
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_CANCELLED = 130
# After the last progress event, how long the log stream may take to deliver its tail.
LOGS_GRACE_SECONDS = 10.0
RELEASE_EVERY_SECONDS = 0.1
_ENDS = {pb.STAGE_COMPLETED, pb.STAGE_FAILED, pb.STAGE_CANCELLED}


def ends_pipeline(event: pb.PipelineProgress) -> bool:
    return not event.stage_id and event.status in _ENDS


async def _print_logs(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    first: pb.PipelineProgress,
    out: Output,
    order: TimeOrder,
) -> None:
    """Follows the logs of the run whose first event is first; the stream ends shortly
    after the pipeline does."""
    request = pb.WorkerLogsRequest(pipeline_id=first.pipeline_id, follow=True)
    # The stream has every run of this pipeline id; lines from before this run began are
    # an earlier run's.
    since = parse_timestamp(first.started_at) if first.started_at else None
    try:
        async for entry in stub.StreamWorkerLogs(request, metadata=metadata_from_env()):
            if since is None or parse_timestamp(entry.timestamp) >= since:
                order.add(entry.timestamp, functools.partial(out.log_line, entry))
    except aio.AioRpcError as err:
        print(f"logs: {err.code().name}: {err.details()}", file=sys.stderr)


async def _release(order: TimeOrder) -> None:
    while True:
        order.release_due()
        await asyncio.sleep(RELEASE_EVERY_SECONDS)


async def _follow_with_logs(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    events: AsyncIterable[pb.PipelineProgress],
    out: Output,
) -> pb.PipelineProgress | None:
    order = TimeOrder()
    releasing = asyncio.create_task(_release(order))
    logs: asyncio.Task[None] | None = None
    final = None
    try:
        async for event in events:
            order.add(
                event.timestamp,
                functools.partial(out.progress, event),
                ends_pipeline=ends_pipeline(event),
            )
            if logs is None:  # the pipeline exists from its first event
                logs = asyncio.create_task(_print_logs(stub, event, out, order))
            if not event.stage_id:
                final = event
        if logs is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(logs), LOGS_GRACE_SECONDS)
    finally:
        releasing.cancel()
        if logs is not None:
            logs.cancel()
        order.release_all()
    return final


async def follow(
    stub: pb_grpc.OttoscalerServiceAsyncStub,
    events: AsyncIterable[pb.PipelineProgress],
    out: Output,
    *,
    logs: bool = False,
) -> pb.PipelineProgress | None:
    """Prints every event (and with logs the workers' lines, in time order) until the
    stream ends; returns the last pipeline-level event."""
    if logs:
        return await _follow_with_logs(stub, events, out)
    final = None
    async for event in events:
        out.progress(event)
        if not event.stage_id:
            final = event
    return final


def outcome(final: pb.PipelineProgress | None, out: Output) -> int:
    """Says how the pipeline ended (in text) and returns the exit code for it."""
    if final is None or not ends_pipeline(final):
        out.say("pipeline did not complete: the stream ended before the pipeline did")
        return EXIT_FAILED
    if final.status == pb.STAGE_COMPLETED:
        out.say("pipeline completed")
        return EXIT_COMPLETED
    if final.status == pb.STAGE_CANCELLED:
        out.say("pipeline cancelled")
        return EXIT_CANCELLED
    out.say(f"pipeline failed: {final.error_message}" if final.error_message else "pipeline failed")
    return EXIT_FAILED
