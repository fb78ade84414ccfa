"""`ottoscaler list`: pipeline runs, newest first (ListPipelines)."""

from __future__ import annotations

import argparse

from gateway.cli.output import status_name
from gateway.cli.verbs.common import Subcommands, add_verb, ask
from ottoscaler.v1 import ottoscaler_pb2 as pb

_ROW = "{:<32} {:<10} {:<25} {:<25} {}"


def register(commands: Subcommands) -> None:
    parser = add_verb(commands, "list", "list pipeline runs, newest first", list_runs)
    parser.add_argument("--limit", type=int, default=20, help="at most this many (1..1000)")


def table(answer: pb.ListPipelinesResponse) -> str:
    if not answer.pipelines:
        return "no pipelines"
    lines = [_ROW.format("PIPELINE", "STATUS", "STARTED", "COMPLETED", "COMMIT")]
    for run in answer.pipelines:
        status, completed = status_name(run.status), run.completed_at or "-"
        commit = f"{run.repository}@{run.commit_sha[:12]}" if run.repository else "-"
        lines.append(_ROW.format(run.pipeline_id, status, run.started_at, completed, commit))
    return "\n".join(lines)


async def list_runs(args: argparse.Namespace) -> int:
    request = pb.ListPipelinesRequest(page_size=args.limit)
    await ask(args, lambda stub, metadata: stub.ListPipelines(request, metadata=metadata), table)
    return 0
