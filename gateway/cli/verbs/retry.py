"""`ottoscaler retry ID`: a new run of a failed or cancelled pipeline, followed to its end.

The stages the last run completed are reused; the others run again.
"""

from __future__ import annotations

import argparse

from gateway.cli.verbs.common import Subcommands, add_verb, follow_call
from ottoscaler.v1 import ottoscaler_pb2 as pb


def register(commands: Subcommands) -> None:
    text = "run a failed or cancelled pipeline again, reusing its completed stages"
    add_verb(commands, "retry", text, retry, takes_id=True, follows=True)


async def retry(args: argparse.Namespace) -> int:
    request = pb.RetryPipelineRequest(pipeline_id=args.pipeline_id)
    return await follow_call(
        args, lambda stub, metadata: stub.RetryPipeline(request, metadata=metadata)
    )
