"""`ottoscaler watch ID`: the pipeline as it is now, then its progress to its end."""

from __future__ import annotations

import argparse

from gateway.cli.verbs.common import Subcommands, add_verb, follow_call
from ottoscaler.v1 import ottoscaler_pb2 as pb


def register(commands: Subcommands) -> None:
    add_verb(commands, "watch", "follow a pipeline to its end", watch, takes_id=True, follows=True)


async def watch(args: argparse.Namespace) -> int:
    ref = pb.PipelineRef(pipeline_id=args.pipeline_id)
    return await follow_call(
        args, lambda stub, metadata: stub.WatchPipeline(ref, metadata=metadata)
    )
