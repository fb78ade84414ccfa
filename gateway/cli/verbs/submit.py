"""`ottoscaler submit FILE`: runs the pipeline in a YAML or JSON file and follows it.

The gateway validates it as it validates any ExecutePipeline; a pipeline with this id
that is still running is followed, not started twice.
"""

from __future__ import annotations

import argparse

from gateway.cli.pipeline_file import load_request
from gateway.cli.verbs.common import Subcommands, add_verb, follow_call, output
from workflows.base.words import plural


def register(commands: Subcommands) -> None:
    text = "run the pipeline in a YAML or JSON file"
    parser = add_verb(commands, "submit", text, submit, follows=True)
    parser.add_argument("file", help="the fields of PipelineRequest, YAML or JSON; - for stdin")
    parser.add_argument("--id", help="the pipeline_id, instead of the file's")


async def submit(args: argparse.Namespace) -> int:
    request = load_request(args.file)
    if args.id:
        request.pipeline_id = args.id
    stages = plural(len(request.stages), "stage")
    output(args).say(f"pipeline {request.pipeline_id} ({stages}) -> {args.server}")
    return await follow_call(
        args, lambda stub, metadata: stub.ExecutePipeline(request, metadata=metadata)
    )
