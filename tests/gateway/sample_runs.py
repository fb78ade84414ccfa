"""`test-pipeline -type <kind> -logs` run in-process against a running Ottoscaler."""

from __future__ import annotations

import asyncio

import pytest

from gateway.app import Running
from gateway.cli.test_pipeline import main


async def sample_output(ottoscaler: Running, kind: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What it printed; it must have exited 0 (the pipeline completed)."""
    argv = ["-server", f"127.0.0.1:{ottoscaler.grpc_port}", "-type", kind, "-logs"]
    assert await asyncio.to_thread(main, argv) == 0
    return capsys.readouterr().out
