"""`ottoscaler`: up (the embedded stack on a laptop) and serve (in a cluster); replay;
and the pipeline verbs submit, list, get, watch, logs, cancel, retry, approve."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from gateway.app import STOP_GRACE_SECONDS, running_ottoscaler
from gateway.cli import verbs
from gateway.cli.claims import Taken, claimed
from gateway.hardening import forget_secret_environment, make_undumpable
from gateway.ports import PortInUse
from gateway.server.log_json import JsonFormatter
from gateway.server.tracing import ottoscaler_tracer, tracer_provider
from gateway.settings import LogFormat, RuntimeKind, Settings, settings_problems
from gateway.temporal.client import connect
from gateway.temporal.devserver import DevServer
from gateway.temporal.replay import (
    HistoryUnavailable,
    history_from_file,
    replay,
    replay_workflow_id,
)
from gateway.temporal.supervisor import DevServerLost, supervise
from gateway.temporal.telemetry import sdk_runtime

log = logging.getLogger("ottoscaler")
# On a laptop nothing is left for a stream to re-attach to once `up` stops, so open
# streams are not waited for as in a cluster (gateway/app.py STOP_GRACE_SECONDS): Ctrl-C
# must be done within 5 s, the dev server's own stop included.
UP_STOP_GRACE_SECONDS = 0.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ottoscaler", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "Temporal dev server + worker + gateway on this machine; Ctrl-C stops all"),
        ("serve", "worker + gateway against an existing Temporal (TEMPORAL_ADDRESS)"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--runtime", choices=[k.value for k in RuntimeKind])
        sub.add_argument("--host", help="gateway address to listen on (default 127.0.0.1)")
        sub.add_argument("--grpc-port", type=int)
        sub.add_argument("--metrics-port", type=int, help="Prometheus metrics (default 9464)")
        sub.add_argument(
            "--temporal-metrics-port", type=int, help="Temporal SDK metrics (default 9465, 0 off)"
        )
        sub.add_argument("--data-dir", type=Path)
        sub.add_argument("--temporal-address", help="use this Temporal server, start none")
        if name == "up":
            sub.add_argument("--temporal-port", type=int, default=7233)
            sub.add_argument("--ui-port", type=int, default=8233)
    replay = commands.add_parser(
        "replay",
        help="replay histories with the current code; exit 1 on non-determinism",
        description="Replays workflow histories with the current workflow code.",
    )
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--history", type=Path, nargs="+", help="history JSON file(s)")
    source.add_argument("--workflow-id", help="fetch from TEMPORAL_ADDRESS, children included")
    replay.add_argument("--temporal-address")
    verbs.register(commands)
    return parser


async def _replay(args: argparse.Namespace) -> int:
    settings = Settings(
        **({"temporal_address": args.temporal_address} if args.temporal_address else {})
    )
    keys = settings.payload_keys
    if args.history:
        outcomes = [await replay(history_from_file(path), str(path), keys) for path in args.history]
    else:
        try:
            client = await connect(settings.temporal_address, settings.temporal_namespace)
        except RuntimeError as error:
            raise HistoryUnavailable(
                f"cannot reach Temporal at {settings.temporal_address} "
                "(change it with --temporal-address or TEMPORAL_ADDRESS)"
            ) from error
        outcomes = await replay_workflow_id(client, args.workflow_id, keys)
    for outcome in outcomes:
        print(f"{'FAIL' if outcome.error else 'ok'}  {outcome.source}  {outcome.error}".rstrip())
    return 1 if any(o.error for o in outcomes) else 0


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "ottoscaler_runtime": args.runtime,
        "grpc_host": args.host,
        "grpc_port": args.grpc_port,
        "metrics_port": args.metrics_port,
        "temporal_metrics_port": args.temporal_metrics_port,
        "ottoscaler_data_dir": args.data_dir,
        "temporal_address": args.temporal_address,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


async def _serve(settings: Settings, dev: DevServer | None, stop_grace: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = sdk_runtime(settings)
    provider = tracer_provider(settings)
    tracer = ottoscaler_tracer(provider) if provider is not None else None
    try:
        namespace = settings.temporal_namespace
        if dev is not None:
            client = await dev.start(namespace, runtime, tracer)
        else:
            client = await connect(
                settings.temporal_address, namespace, runtime=runtime, tracer=tracer
            )
        async with running_ottoscaler(
            settings, client, stop_grace=stop_grace, tracer=tracer
        ) as running:
            print(f"Ottoscaler gRPC: {running.grpc_host}:{running.grpc_port}", flush=True)
            if dev is not None:
                print(f"Temporal Web UI: {dev.ui_url}", flush=True)
            print(
                f"Temporal: {settings.temporal_address} (task queue "
                f"{settings.temporal_task_queue}, runtime {running.runtime.name})",
                flush=True,
            )
            await _until_stopped(stop, dev, settings.temporal_namespace)
            log.info("stopping")
    finally:
        if dev is not None:
            dev.stop()
        if provider is not None:
            provider.shutdown()  # sends the spans still buffered


async def _until_stopped(stop: asyncio.Event, dev: DevServer | None, namespace: str) -> None:
    """Until Ctrl-C or SIGTERM; meanwhile a dev server that dies is started again
    (DevServerLost when it cannot be)."""
    if dev is None:
        await stop.wait()
        return
    supervising = asyncio.create_task(supervise(dev, namespace))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([supervising, stopping], return_when=asyncio.FIRST_COMPLETED)
    supervising.cancel()
    stopping.cancel()
    if supervising.done() and not supervising.cancelled():
        supervising.result()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if "verb" in args:
        return verbs.run_verb(args)
    try:
        code = asyncio.run(_replay(args)) if args.command == "replay" else _run(args)
    except (Taken, PortInUse, HistoryUnavailable) as refused:
        print(f"ottoscaler {args.command}: {refused}", file=sys.stderr)
        code = 2
    except ValidationError as invalid:
        print(f"ottoscaler {args.command}: invalid settings:", file=sys.stderr)
        print(settings_problems(invalid), file=sys.stderr)
        code = 2
    except DevServerLost as lost:
        print(f"ottoscaler {args.command}: {lost}", file=sys.stderr)
        code = 1
    if args.command == "replay":
        # Right after a client call the Temporal core's thread may still be in its callback
        # while the interpreter finalizes: SIGABRT instead of this exit code
        # (temporalio/sdk-python#300). Nothing is left to clean up, so skip finalizing.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])


def _run(args: argparse.Namespace) -> int:
    undumpable = make_undumpable()
    settings = _settings(args)
    forget_secret_environment()  # before any child starts
    configure_logging(settings)
    dev = None
    if args.command == "up" and args.temporal_address is None:
        codec = f"http://{settings.codec_host}:{settings.codec_port}"
        dev = DevServer(
            settings.ottoscaler_data_dir,
            "127.0.0.1",
            args.temporal_port,
            args.ui_port,
            codec if settings.payload_keys else "",
        )
        # Its Web UI decodes payloads through the codec endpoint, from its own origin.
        origins = f"{settings.codec_cors_origins},{dev.ui_url}"
        settings = settings.model_copy(
            update={"temporal_address": dev.address, "codec_cors_origins": origins}
        )
    with claimed(settings, dev):
        log.info("settings:\n%s", settings.describe())
        if not undumpable:
            log.warning("this platform cannot keep other processes of this user out of this one")
        up = args.command == "up"
        asyncio.run(_serve(settings, dev, UP_STOP_GRACE_SECONDS if up else STOP_GRACE_SECONDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
