"""`ottoscaler replay` exits 0 when histories match the code and 1 when they do not."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import Client

from tests.builders import mock_stage, pipeline, start, worker

OTTOSCALER = str(Path(sys.executable).parent / "ottoscaler")
HISTORIES = Path(__file__).parent / "histories"


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
