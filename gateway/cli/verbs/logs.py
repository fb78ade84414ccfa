"""`ottoscaler logs ID`: the lines a pipeline's workers printed, kept after they are gone."""

from __future__ import annotations

import argparse

from gateway.cli.verbs.common import Subcommands, add_verb, gateway, output
from gateway.server.auth import metadata_from_env
from ottoscaler.v1 import ottoscaler_pb2 as pb


def register(commands: Subcommands) -> None:
    text = "print the lines of a pipeline's workers"
    parser = add_verb(commands, "logs", text, logs, takes_id=True)
    parser.add_argument("--stage", default="", metavar="S", help="only this stage's workers")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="go on until those workers are done"
    )


async def logs(args: argparse.Namespace) -> int:
    out = output(args)
    request = pb.WorkerLogsRequest(
        pipeline_id=args.pipeline_id, stage_id=args.stage, follow=args.follow
    )
    async with gateway(args) as stub:
        async for entry in stub.StreamWorkerLogs(request, metadata=metadata_from_env()):
            out.log_line(entry)
    return 0
