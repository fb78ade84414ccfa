"""`ottoscaler replay` exits 0 when histories match the code, 1 when they do not, and 2
with one line when it cannot get the history."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import Client

from tests.builders import mock_stage, pipeline, start, worker
from tests.e2e.processes import free_port

OTTOSCALER = str(Path(sys.executable).parent / "ottoscaler")
HISTORIES = Path(__file__).parent / "histories"


async def run_refused(*args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the lines of stderr."""
    process = await asyncio.create_subprocess_exec(
        OTTOSCALER,
        "replay",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode().splitlines()


async def run_cli(*args: str) -> tuple[int, list[str]]:
    process = await asyncio.create_subprocess_exec(
        OTTOSCALER, "replay", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    # Temporal's core may log warnings on stdout too; keep our verdict lines.
    verdicts = [line for line in out.decode().splitlines() if line.startswith(("ok  ", "FAIL  "))]
    return process.returncode, verdicts


async def test_replay_by_workflow_id_covers_the_stage_children(
    client: Client, task_queue: str
) -> None:
    # Too large for one history: the first stage runs in a child (workflows/pipeline/placement.py).
    spec = pipeline(*(mock_stage(f"wide-{n}", workers=10, max_attempts=45) for n in "abc"))
    async with worker(client, task_queue):
        handle = await start(client, task_queue, spec)
        await handle.result()
    address = client.service_client.config.target_host
    code, lines = await run_cli("--workflow-id", handle.id, "--temporal-address", address)
    assert code == 0, lines
    assert len(lines) == 2  # the pipeline and its child stage
    assert all(line.startswith("ok  ") for line in lines)


async def test_replay_of_a_diverging_history_exits_1(tmp_path: Path) -> None:
    original = (HISTORIES / "chain.json").read_text()
    # As if the code had renamed an activity since this history was recorded.
    diverging = tmp_path / "diverging.json"
    diverging.write_text(original.replace('"run_worker"', '"run_pod"'))
    code, lines = await run_cli("--history", str(HISTORIES / "diamond.json"), str(diverging))
    assert code == 1
    assert lines[0].startswith("ok  ")
    assert lines[1].startswith(f"FAIL  {diverging}  NondeterminismError")
    assert "'run_pod' does not match" in lines[1]


async def test_replay_of_an_unknown_workflow_says_so_in_one_line(client: Client) -> None:
    address = client.service_client.config.target_host
    code, out, err = await run_refused(
        "--workflow-id", "pipeline-nobody", "--temporal-address", address
    )
    assert (code, out) == (2, "")
    assert err == [
        "ottoscaler replay: workflow not found for ID: pipeline-nobody "
        f"(namespace default at {address})"
    ]


async def test_replay_without_a_server_says_so_in_one_line() -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    code, out, err = await run_refused("--workflow-id", "pipeline-x", "--temporal-address", address)
    assert (code, out) == (2, "")
    assert err == [
        f"ottoscaler replay: cannot reach Temporal at {address} "
        "(change it with --temporal-address or TEMPORAL_ADDRESS)"
    ]
