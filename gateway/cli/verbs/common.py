"""What every pipeline verb shares: the gateway's address, the output format, exit codes.

Verbs reach the gateway, never Temporal, with the CLIs' own settings: the bearer token in
OTTOSCALER_AUTH_TOKEN, TLS from OTTOSCALER_TLS_CA (and _CLIENT_CERT, _CLIENT_KEY).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias, TypeVar

import grpc
from google.protobuf.message import Message
from grpc import aio

from gateway.cli.follow import EXIT_CANCELLED, follow, outcome
from gateway.cli.output import Output
from gateway.cli.pipeline_file import PipelineFileError
from gateway.server.auth import Metadata, metadata_from_env
from gateway.server.tls import client_channel
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc

SERVER_ENV = "OTTOSCALER_SERVER"
EXIT_INVALID = 2
EXIT_REFUSED = 3
EXIT_BROKEN_PIPE = 141
EXIT_CODES = (
    "exit codes: 0 done (submit, watch, retry: the pipeline completed); 1 the pipeline "
    "failed (cancel: it had already ended); 2 an invalid file or request; 3 the gateway "
    "could not be reached or refused (NOT_FOUND, UNAUTHENTICATED, ...); 130 the pipeline "
    "was cancelled, or Ctrl-C (the pipeline goes on)"
)

Verb = Callable[[argparse.Namespace], Awaitable[int]]
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
Answer = TypeVar("Answer", bound=Message)


def add_verb(
    commands: Subcommands,
    name: str,
    text: str,
    verb: Verb,
    *,
    takes_id: bool = False,
    follows: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand with --server and --output, an ID argument when it takes_id, --logs
    when it follows a pipeline; args.verb runs it."""
    parser = commands.add_parser(name, help=text, description=text, epilog=EXIT_CODES)
    if takes_id:
        parser.add_argument("pipeline_id", metavar="ID")
    if follows:
        parser.add_argument(
            "--logs", action="store_true", help="print the workers' lines too, in time order"
        )
    parser.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, "localhost:9090"),
        metavar="HOST:PORT",
        help=f"the Ottoscaler gateway (default ${SERVER_ENV}, else localhost:9090)",
    )
    parser.add_argument(
        "-o", "--output", choices=("text", "json"), default="text", help="json: for scripts"
    )
    parser.set_defaults(verb=verb)
    return parser


def output(args: argparse.Namespace) -> Output:
    return Output(json=args.output == "json")


@asynccontextmanager
async def gateway(args: argparse.Namespace) -> AsyncIterator[Stub]:
    async with client_channel(args.server) as channel:
        yield pb_grpc.OttoscalerServiceStub(channel)


async def ask(
    args: argparse.Namespace,
    call: Callable[[Stub, Metadata], Awaitable[Answer]],
    text: Callable[[Answer], str],
) -> Answer:
    """One unary call; prints its answer as text(answer) or as JSON."""
    async with gateway(args) as stub:
        answer = await call(stub, metadata_from_env())
    output(args).answer(text(answer), answer)
    return answer


async def follow_call(
    args: argparse.Namespace,
    call: Callable[[Stub, Metadata], AsyncIterable[pb.PipelineProgress]],
) -> int:
    """Follows the progress stream a call opens to its end (with --logs, the lines too);
    the exit code of how the pipeline ended."""
    out = output(args)
    async with gateway(args) as stub:
        events = call(stub, metadata_from_env())
        final = await follow(stub, events, out, logs=args.logs)
    return outcome(final, out)


def run_verb(args: argparse.Namespace) -> int:
    """Runs args.verb; errors become one line on stderr and an exit code."""
    try:
        code: int = asyncio.run(args.verb(args))
    except PipelineFileError as err:
        print(f"error: {args.file}: {err}", file=sys.stderr)
        return EXIT_INVALID
    except aio.AioRpcError as err:
        print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return EXIT_INVALID if err.code() is grpc.StatusCode.INVALID_ARGUMENT else EXIT_REFUSED
    except BrokenPipeError:
        # The reader went away (`| head`): end quietly, as a shell's tools do on SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted; a pipeline goes on (ottoscaler cancel ID stops it)", file=sys.stderr)
        return EXIT_CANCELLED
    return code
