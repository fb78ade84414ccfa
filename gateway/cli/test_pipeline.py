"""`test-pipeline`: sends a sample pipeline to Ottoscaler and prints every progress event.

Exits 0 only when the pipeline completed. Flags are those of the old Go tool.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

import grpc
from grpc import aio

from gateway.cli.durations import parse_duration
from gateway.cli.sample_pipelines import PIPELINES
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test-pipeline", description=__doc__)
    parser.add_argument("-server", default="localhost:9090", help="Ottoscaler gRPC address")
    parser.add_argument("-type", choices=sorted(PIPELINES), default="simple")
    parser.add_argument("-id", default="", help="pipeline id (generated when empty)")
    parser.add_argument("-repo", default="otto/demo")
    parser.add_argument("-sha", default="0123456789abcdef0123456789abcdef01234567")
    parser.add_argument("-timeout", type=parse_duration, default=parse_duration("10m"))
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
    async with aio.insecure_channel(args.server) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        try:
            async for event in stub.ExecutePipeline(request, timeout=args.timeout):
                print(describe(event), flush=True)
                if not event.stage_id:
                    final = event
        except aio.AioRpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2 if err.code() is grpc.StatusCode.INVALID_ARGUMENT else 1
    completed = final is not None and final.status == pb.STAGE_COMPLETED
    print("pipeline completed" if completed else "pipeline did not complete")
    return 0 if completed else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
