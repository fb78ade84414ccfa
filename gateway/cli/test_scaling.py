"""`test-scaling`: drives ScaleUp, ScaleDown and GetWorkerStatus, with the old Go tool's flags.

-workers is how many to add on scale-up (default 3) and how many to keep on scale-down
(default 0). Without -task, status and scale-down mean every task (the API's empty
task_id); scale-up makes up a new task id. -watch refreshes a table of the task's workers
until they have all finished (or Ctrl-C). -timeout bounds the whole command. Exit 0 on
success; 1 when the answer is not SUCCESS or ALREADY_PROCESSED, a watched worker failed,
or a gRPC error; 2 on INVALID_ARGUMENT; 130 on Ctrl-C. A gateway that requires a bearer
token gets the one in OTTOSCALER_AUTH_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Sequence

import grpc
from grpc import aio

from gateway.cli.durations import DURATION_HELP, parse_duration
from gateway.server.auth import metadata_from_env
from gateway.server.tls import client_channel
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.base.words import plural

ACTIONS = ("scale-up", "scale-down", "status")
DEFAULT_WORKERS = {"scale-up": 3, "scale-down": 0, "status": 0}
REFRESH_SECONDS = 0.5
CLEAR_SCREEN = "\033[H\033[2J"
_OK = {pb.ScaleResponse.SUCCESS, pb.ScaleResponse.ALREADY_PROCESSED}


def _config_entry(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test-scaling", description=__doc__)
    parser.add_argument("-action", choices=ACTIONS, default="scale-up")
    parser.add_argument("-workers", type=int, help="scale-up: add N (3); scale-down: keep N (0)")
    parser.add_argument("-task", default="", help="task id; empty: every task (scale-up: a new id)")
    parser.add_argument("-server", default="localhost:9090", help="Ottoscaler gRPC address")
    parser.add_argument("-watch", action="store_true", help="live table until all finish")
    parser.add_argument(
        "-timeout",
        type=parse_duration,
        default=parse_duration("30s"),
        help=f"how long the whole command may take, {DURATION_HELP} (default 30s)",
    )
    parser.add_argument(
        "-config",
        type=_config_entry,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="build_config entry, repeatable (e.g. mock.duration=2, OTTO_AGENT_SECONDS=1)",
    )
    parser.add_argument("-request-id", default="", help="metadata request_id (a repeat is a no-op)")
    return parser


def table(task_id: str, answer: pb.WorkerStatusResponse) -> str:
    tasks = f"task {task_id}" if task_id else "every task"
    lines = [
        f"{tasks}: {plural(answer.total_count, 'worker')}, {answer.running_count} running, "
        f"{answer.pending_count} pending, {answer.succeeded_count} succeeded, "
        f"{answer.failed_count} failed",
        f"{'NAME':<44} {'STATUS':<10} {'STARTED':<25} {'COMPLETED':<25} ERROR",
    ]
    lines += [
        f"{w.pod_name:<44} {w.status:<10} {w.started_at:<25} {w.completed_at:<25} "
        f"{w.error_message}".rstrip()
        for w in answer.workers
    ]
    return "\n".join(lines)


def describe(action: str, answer: pb.ScaleResponse) -> str:
    status = pb.ScaleResponse.Status.Name(answer.status)
    lines = [f"{action}: {status}, {plural(answer.processed_count, 'worker')}: {answer.message}"]
    lines += [f"  {name}" for name in answer.worker_pod_names]
    lines.append(f"  started {answer.started_at}, completed {answer.completed_at}")
    return "\n".join(lines)


async def watch(stub: pb_grpc.OttoscalerServiceAsyncStub, task_id: str) -> int:
    """Redraws (or, when not a terminal, reprints on change) until nothing runs or pends."""
    shown = ""
    while True:
        answer = await stub.GetWorkerStatus(
            pb.WorkerStatusRequest(task_id=task_id), metadata=metadata_from_env()
        )
        text = table(task_id, answer)
        if text != shown:
            print(CLEAR_SCREEN + text if sys.stdout.isatty() else text + "\n", flush=True)
            shown = text
        if not answer.running_count and not answer.pending_count:
            return 1 if answer.failed_count else 0
        await asyncio.sleep(REFRESH_SECONDS)


async def act(args: argparse.Namespace, task_id: str) -> int:
    workers = DEFAULT_WORKERS[args.action] if args.workers is None else args.workers
    async with client_channel(args.server) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        code = 0
        if args.action == "status":
            answer = await stub.GetWorkerStatus(
                pb.WorkerStatusRequest(task_id=task_id), metadata=metadata_from_env()
            )
            print(table(task_id, answer))
        else:
            request = pb.ScaleRequest(
                task_id=task_id,
                worker_count=workers,
                build_config=dict(args.config),
                triggered_by="test-scaling",
                reason=f"test-scaling -action {args.action}",
                metadata={"request_id": args.request_id} if args.request_id else {},
            )
            call = stub.ScaleUp if args.action == "scale-up" else stub.ScaleDown
            response = await call(request, metadata=metadata_from_env())
            print(describe(args.action, response), flush=True)
            code = 0 if response.status in _OK else 1
        if args.watch:
            code = max(code, await watch(stub, task_id))
        return code


async def run(args: argparse.Namespace) -> int:
    new_task = args.action == "scale-up" and not args.task
    task_id = f"test-{uuid.uuid4().hex[:8]}" if new_task else args.task
    try:
        async with asyncio.timeout(args.timeout):
            return await act(args, task_id)
    except aio.AioRpcError as err:
        print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
        return 2 if err.code() is grpc.StatusCode.INVALID_ARGUMENT else 1
    except TimeoutError:
        print(f"error: not done within -timeout {args.timeout:g}s", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
