"""`test-pipeline`: sends a sample pipeline to Ottoscaler and prints every progress event.

Exits 0 only when the pipeline completed: 1 when it failed, 130 when it was cancelled,
2 when the gateway rejected it (INVALID_ARGUMENT). Flags are those of the old Go tool,
plus -logs: the workers' log lines, in time order with the progress, and -approve:
approve each approval stage as it waits. A gateway that
requires a bearer token gets the one in OTTOSCALER_AUTH_TOKEN. `ottoscaler submit` runs
a pipeline of your own from a file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import AsyncIterable, Sequence

import grpc
from grpc import aio

from gateway.cli.approving import approving
from gateway.cli.durations import DURATION_HELP, parse_duration
from gateway.cli.follow import follow, outcome
from gateway.cli.output import Output
from gateway.cli.sample_pipelines import PIPELINES
from gateway.server.auth import metadata_from_env
from gateway.server.tls import client_channel
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.base.words import plural


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test-pipeline", description=__doc__)
    parser.add_argument("-server", default="localhost:9090", help="Ottoscaler gRPC address")
    parser.add_argument("-type", choices=sorted(PIPELINES), default="simple")
    parser.add_argument("-id", default="", help="pipeline id (generated when empty)")
    parser.add_argument("-repo", default="otto/demo")
    parser.add_argument("-sha", default="0123456789abcdef0123456789abcdef01234567")
    parser.add_argument(
        "-timeout",
        type=parse_duration,
        default=parse_duration("10m"),
        help=f"how long to follow the pipeline before giving up, {DURATION_HELP} (default 10m)",
    )
    parser.add_argument("-logs", action="store_true", help="print the workers' logs too")
    parser.add_argument(
        "-approve",
        action="store_true",
        help="approve each approval stage when it waits (else answer with ApproveStage)",
    )
    return parser


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
    stages = plural(len(request.stages), "stage")
    print(f"pipeline {pipeline_id} ({args.type}, {stages}) -> {args.server}")
    out = Output()
    async with client_channel(args.server) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        try:
            events: AsyncIterable[pb.PipelineProgress] = stub.ExecutePipeline(
                request, timeout=args.timeout, metadata=metadata_from_env()
            )
            if args.approve:
                events = approving(stub, events, approver="test-pipeline")
            final = await follow(stub, events, out, logs=args.logs)
        except aio.AioRpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            return 2 if err.code() is grpc.StatusCode.INVALID_ARGUMENT else 1
    return outcome(final, out)


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
