"""`ottoscaler cancel ID`: cancels a running pipeline; its workers are deleted.

Exit 0 when the cancellation was accepted, 1 when the pipeline had already ended.
"""

from __future__ import annotations

import argparse

from gateway.cli.verbs.common import Subcommands, add_verb, ask
from ottoscaler.v1 import ottoscaler_pb2 as pb

DEFAULT_REASON = "requested with ottoscaler cancel"


def register(commands: Subcommands) -> None:
    parser = add_verb(commands, "cancel", "cancel a running pipeline", cancel, takes_id=True)
    parser.add_argument("--reason", default=DEFAULT_REASON, help="shown in its final event")


async def cancel(args: argparse.Namespace) -> int:
    request = pb.CancelPipelineRequest(pipeline_id=args.pipeline_id, reason=args.reason)
    answer = await ask(
        args,
        lambda stub, metadata: stub.CancelPipeline(request, metadata=metadata),
        lambda answer: answer.message,
    )
    return 0 if answer.accepted else 1
