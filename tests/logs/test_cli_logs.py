"""`test-pipeline -logs` prints the workers' lines interleaved with the progress, in time order."""

from __future__ import annotations

import asyncio

import pytest

from gateway.app import Running
from gateway.cli.test_pipeline import main
from gateway.settings import RuntimeKind


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_logs_are_printed_between_progress_events(
    ottoscaler: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["-server", f"127.0.0.1:{ottoscaler.grpc_port}", "-type", "simple", "-logs"]
    assert await asyncio.to_thread(main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    logs = [n for n, line in enumerate(out) if " | [" in line]
    deploy_done = next(
        n for n, line in enumerate(out) if " deploy " in line and "COMPLETED" in line
    )
    assert [out[n].split(" | ")[1] for n in logs if "-build-" in out[n]] == [
        "[build] shard 0 of 1 attempt 1 on otto/demo@0123456789abcdef0123456789abcdef01234567",
        "[build] compiled",
        "[build] done",
    ]
    assert logs[0] < deploy_done  # live, not after the end
    # The progress stream lags the logs a little; still every line prints in time order.
    times = [line.split()[0] for line in out[1:-1]]
    assert times == sorted(times)
    assert len(logs) == 9 and out[-1] == "pipeline completed"
