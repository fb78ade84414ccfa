"""`ottoscaler approve ID STAGE`: answers an approval stage that waits; --reject refuses it.

Exit 0 when the answer was taken; a second answer, a stage that is not waiting, or a
pipeline that has ended is the gateway's FAILED_PRECONDITION (exit 3).
"""

from __future__ import annotations

import argparse
import getpass

from gateway.cli.verbs.common import Subcommands, add_verb, ask
from ottoscaler.v1 import ottoscaler_pb2 as pb


def register(commands: Subcommands) -> None:
    text = "approve (or --reject) an approval stage that waits"
    parser = add_verb(commands, "approve", text, approve, takes_id=True)
    parser.add_argument("stage_id", metavar="STAGE")
    parser.add_argument("--reject", action="store_true", help="reject it: the stage fails")
    parser.add_argument(
        "--approver", help="who answers (default: the local user name, $LOGNAME or $USER)"
    )
    parser.add_argument("--comment", default="", help="kept in the stage's outputs")


def local_user() -> str:
    """As getpass finds it: $LOGNAME, $USER, ..., else the account's name; "" when there is
    none, which the gateway refuses naming `approver`."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no such variable and a uid without a passwd entry
        return ""


async def approve(args: argparse.Namespace) -> int:
    request = pb.ApproveStageRequest(
        pipeline_id=args.pipeline_id,
        stage_id=args.stage_id,
        approved=not args.reject,
        approver=args.approver or local_user(),
        comment=args.comment,
    )
    answer = await ask(
        args,
        lambda stub, metadata: stub.ApproveStage(request, metadata=metadata),
        lambda answer: answer.message,
    )
    return 0 if answer.accepted else 1
