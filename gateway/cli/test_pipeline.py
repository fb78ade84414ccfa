"""`test-pipeline`: sends a sample pipeline to Ottoscaler and prints every progress event.

Exits 0 only when the pipeline completed. Flags are those of the old Go tool, plus -logs:
the workers' log lines, interleaved with the progress as they happen. A gateway that
requires a bearer token gets the one in OTTOSCALER_AUTH_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections.abc import Sequence

import grpc
from grpc import aio

from gateway.cli.durations import parse_duration
from gateway.cli.sample_pipelines import PIPELINES
from gateway.server.auth import metadata_from_env
from gateway.server.tls import client_channel
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

# After the last progress event, how long the log stream may take to deliver its tail.
LOGS_GRACE_SECONDS = 10.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test-pipeline", description=__doc__)
    parser.add_argument("-server", default="localhost:9090", help="Ottoscaler gRPC address")
    parser.add_argument("-type", choices=sorted(PIPELINES), default="simple")
    parser.add_argument("-id", default="", help="pipeline id (generated when empty)")
    parser.add_argument("-repo", default="otto/demo")
    parser.add_argument("-sha", default="0123456789abcdef0123456789abcdef01234567")
    parser.add_argument("-timeout", type=parse_duration, default=parse_duration("10m"))
    parser.add_argument("-logs", action="store_true", help="print the workers' logs too")
    return parser


def describe(event: pb.PipelineProgress) -> str:
    status = pb.StageStatus.Name(event.status).removeprefix("STAGE_")
    who = event.stage_id or "pipeline"
    line = (
        f"{event.timestamp} {event.progress_percentage:3d}% {who:<16} {status:<10} {event.message}"
    )
    if event.worker_pod_names and event.stage_id:
        line += f" [{', '.join(event.worker_pod_names)}]"
    if event.error_message:
        line += f" error: {event.error_message}"
    return line


def describe_line(entry: pb.WorkerLogEntry) -> str:
    stream = "!" if entry.source == "stderr" else "|"
    return f"{entry.timestamp}      {entry.worker_id} {stream} {entry.message}"


async def print_logs(stub: pb_grpc.OttoscalerServiceAsyncStub, pipeline_id: str) -> None:
    """Follows the pipeline's logs; the stream ends shortly after the pipeline does."""
    request = pb.WorkerLogsRequest(pipeline_id=pipeline_id, follow=True)
    try:
        async for entry in stub.StreamWorkerLogs(request, metadata=metadata_from_env()):
            print(describe_line(entry), flush=True)
    except aio.AioRpcError as err:
        print(f"logs: {err.code().name}: {err.details()}", file=sys.stderr)


async def run(args: argparse.Namespace) -> int:
    pipeline_id = args.id or f"test-{args.type}-{uuid.uuid4().hex[:8]}"
    request = pb.PipelineRequest(
        pipeline_id=pipeline_id,
        name=f"test-pipeline {args.type}",
        stages=PIPELINES[args.type](),
        repository=args.repo,
        commit_sha=args.sha,
        triggered_by="test-pipeline",
    )
    print(f"pipeline {pipeline_id} ({args.type}, {len(request.stages)} stages) -> {args.server}")
    final: pb.PipelineProgress | None = None
    logs: asyncio.Task[None] | None = None
    async with client_channel(args.server) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        try:
            events = stub.ExecutePipeline(
                request, timeout=args.timeout, metadata=metadata_from_env()
            )
            async for event in events:
                print(describe(event), flush=True)
                if args.logs and logs is None:  # the pipeline exists from its first event
                    logs = asyncio.create_task(print_logs(stub, pipeline_id))
                if not event.stage_id:
                    final = event
            if logs is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(logs), LOGS_GRACE_SECONDS)
        except aio.AioRpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2 if err.code() is grpc.StatusCode.INVALID_ARGUMENT else 1
        finally:
            if logs is not None:
                logs.cancel()
    completed = final is not None and final.status == pb.STAGE_COMPLETED
    print("pipeline completed" if completed else "pipeline did not complete")
    return 0 if completed else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
