"""The auth token stays out of local workers' reach (issue 12, item 6).

`ottoscaler serve` runs as a subprocess on the local runtime, with the token in its
environment (as before) or in OTTOSCALER_AUTH_TOKEN_FILE. A pipeline's worker then hunts
for the token where a process of the same user could find it: Ottoscaler's
/proc/<pid>/environ, every other process's it can read (its supervisor's among them),
and its own environment.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc import aio
from temporalio.client import Client

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.e2e.processes import descendants, free_port
from tests.e2e.test_up import start_up, stop
from tests.reliability.serve import Serve, start_serve

# $1 is the token and $2 Ottoscaler's pid, passed as arguments: the token is in no
# environment unless it leaked.
HUNT = """
if cat "/proc/$2/environ" > /dev/null 2>&1; then
    echo "ottoscaler environ: readable"
else
    echo "ottoscaler environ: unreadable"
fi
for environ in /proc/[0-9]*/environ; do
    if cat "$environ" 2> /dev/null | tr '\\0' '\\n' | grep -q -F -e "$1"; then
        echo "token: found in $environ"
        exit 1
    fi
done
if env | grep -q -F -e "$1" -e OTTOSCALER_AUTH_TOKEN=; then
    echo "token: found in its own environment"
    exit 1
fi
echo "token: not found"
"""


def as_an_ordinary_user() -> list[str]:
    """Root reads any process's /proc whatever that process allows (CAP_SYS_PTRACE): a test
    run as root runs Ottoscaler, and so its workers, as an ordinary user of a user
    namespace of their own. Run as anyone else, the test runs it as itself."""
    if os.geteuid() != 0:
        return []
    return ["unshare", "--user", "--map-user=65534", "--map-group=65534"]


@pytest.fixture(params=["environment", "file"])
async def serve(
    request: pytest.FixtureRequest, client: Client, task_queue: str, tmp_path: Path
) -> AsyncIterator[tuple[Serve, str]]:
    """A running `ottoscaler serve` and its token, given as request.param says."""
    token = secrets.token_hex(16)
    if request.param == "environment":
        given = {"OTTOSCALER_AUTH_TOKEN": token}
    else:
        token_file = tmp_path / "token"
        token_file.write_text(f"{token}\n")
        token_file.chmod(0o600)
        given = {"OTTOSCALER_AUTH_TOKEN_FILE": str(token_file)}
    env = {
        **given,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "OTTOSCALER_RUNTIME": "local",
        "OTTOSCALER_DATA_DIR": str(tmp_path / "data"),
        "GRPC_HOST": "127.0.0.1",
    }
    running = await start_serve(env, tmp_path / "serve.log", as_an_ordinary_user())
    try:
        yield running, token
    finally:
        running.kill()
        await running.process.wait()


async def test_the_token_is_required_and_no_local_worker_can_read_it(
    serve: tuple[Serve, str],
) -> None:
    running, token = serve
    bearer = (("authorization", f"Bearer {token}"),)
    request = pb.PipelineRequest(
        pipeline_id=f"hunt-{uuid.uuid4().hex[:10]}",
        stages=[
            pb.PipelineStage(
                stage_id="hunt",
                command=["sh", "-c", HUNT, "hunt", token, str(running.process.pid)],
            )
        ],
    )
    async with aio.insecure_channel(running.address) as channel:
        stub = pb_grpc.OttoscalerServiceStub(channel)
        with pytest.raises(aio.AioRpcError) as refused:
            await stub.GetWorkerStatus(pb.WorkerStatusRequest())
        assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED

        events = [event async for event in stub.ExecutePipeline(request, metadata=bearer)]
        logs = stub.StreamWorkerLogs(
            pb.WorkerLogsRequest(pipeline_id=request.pipeline_id), metadata=bearer
        )
        lines = [entry.message async for entry in logs]

    assert lines == ["ottoscaler environ: unreadable", "token: not found"]
    assert events[-1].status == pb.STAGE_COMPLETED, events[-1].error_message


def test_the_dev_server_that_up_starts_never_holds_the_token(tmp_path: Path) -> None:
    """`up`'s own child, the Temporal dev server, is dumpable: its environment must not
    hold the secrets `up` was started with."""
    token = secrets.token_hex(16)
    ports = ["--temporal-port", str(free_port()), "--ui-port", str(free_port())]
    up = start_up(
        tmp_path / "data",
        "--runtime",
        "mock",
        *ports,
        env={"OTTOSCALER_AUTH_TOKEN": token, "OTTOSCALER_SIGNING_KEY": "key-" + token},
    )
    try:
        (dev_server,) = descendants(up.process.pid)
        environ = Path(f"/proc/{dev_server}/environ").read_bytes().split(b"\0")
    finally:
        stop(up)
    assert environ, "the dev server has an environment"
    assert not [entry for entry in environ if token.encode() in entry]
