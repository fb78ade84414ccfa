"""`ottoscaler get ID`: the latest run of a pipeline as it is now, stage by stage."""

from __future__ import annotations

import argparse

from gateway.cli.output import status_name
from gateway.cli.verbs.common import Subcommands, add_verb, ask
from ottoscaler.v1 import ottoscaler_pb2 as pb

_ROW = "{:<16} {:<10} {:<25} {:<25} {}"


def register(commands: Subcommands) -> None:
    add_verb(commands, "get", "show a pipeline and its stages", get, takes_id=True)


def table(snapshot: pb.PipelineSnapshot) -> str:
    lines = [
        f"pipeline {snapshot.pipeline_id}: {status_name(snapshot.status)}, "
        f"{snapshot.progress_percentage}% of stages finished (run {snapshot.run_id})",
        f"started {snapshot.started_at or '-'}, completed {snapshot.completed_at or '-'}",
    ]
    if snapshot.error_message:
        lines.append(f"error: {snapshot.error_message}")
    lines.append(_ROW.format("STAGE", "STATUS", "STARTED", "COMPLETED", "MESSAGE"))
    for stage in snapshot.stages:
        message = stage.message + (f" error: {stage.error_message}" if stage.error_message else "")
        status = status_name(stage.status)
        started, completed = stage.started_at or "-", stage.completed_at or "-"
        lines.append(_ROW.format(stage.stage_id, status, started, completed, message).rstrip())
    return "\n".join(lines)


async def get(args: argparse.Namespace) -> int:
    ref = pb.PipelineRef(pipeline_id=args.pipeline_id)
    await ask(args, lambda stub, metadata: stub.GetPipeline(ref, metadata=metadata), table)
    return 0
