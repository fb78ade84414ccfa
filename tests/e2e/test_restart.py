"""A restart of `ottoscaler up` mid-stage on the local runtime: the worker outlives it, the
new `up` adopts it, and the stage and its log carry on as if nothing happened."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from grpc import aio

from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.e2e.processes import free_port
from tests.e2e.test_up import Up, start_up, stop
from tests.runtimes import delete_local_workers
from tests.waiting import eventually

# Counts its runs, then prints a line every 0.1 s until the test opens the gate, then one
# last line: it prints before, during and after the restart, and ends only once the second
# `up` runs.
SCRIPT = (
    'echo run >> "$RUNS"; i=0; '
    'while [ ! -e "$GATE" ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done; echo done'
)
EXIT_WITHIN = 30.0
FINISH_WITHIN = 120.0


def request(gate: Path, runs: Path) -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"restart-{uuid.uuid4().hex[:8]}",
        repository="otto/demo",
        stages=[
            pb.PipelineStage(
                stage_id="print",
                command=["sh", "-c", SCRIPT],
                config={"GATE": str(gate), "RUNS": str(runs)},
            )
        ],
    )


async def printed(stub: pb_grpc.OttoscalerServiceAsyncStub, pipeline_id: str) -> list[str]:
    entries = stub.StreamWorkerLogs(pb.WorkerLogsRequest(pipeline_id=pipeline_id))
    return [f"{entry.sequence} {entry.message}" async for entry in entries]


@pytest.mark.e2e
# SIGTERM stops `up` cleanly; after SIGKILL the stage's activity is retried once its
# heartbeat timeout (30 s) has passed.
@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"]
)
async def test_a_restart_of_up_leaves_the_running_stage_to_finish(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    data_dir, gate, runs = tmp_path / "data", tmp_path / "gate", tmp_path / "runs"
    ports = ("--temporal-port", str(free_port()), "--ui-port", str(free_port()))
    grpc_port = free_port()

    def start() -> Up:
        return start_up(data_dir, "--runtime", "local", *ports, grpc_port=grpc_port)

    req = request(gate, runs)
    try:
        events, lines = await _restarted_mid_stage(req, gate, start, stop_signal)
    finally:
        await delete_local_workers(data_dir / "workers")  # whatever a failure left running

    final = events[-1]
    assert (final.stage_id, final.status) == ("", pb.STAGE_COMPLETED), final
    stage_events = [(e.status, e.error_message) for e in events if e.stage_id == "print"]
    assert all(status in (pb.STAGE_RUNNING, pb.STAGE_COMPLETED) for status, _ in stage_events), (
        stage_events
    )
    count = len(lines) - 1
    expected = [f"{n} line {n}" for n in range(1, count + 1)] + [f"{count + 1} done"]
    assert count > 5 and lines == expected, lines
    assert runs.read_text() == "run\n", "the command must run once"


async def _restarted_mid_stage(
    req: pb.PipelineRequest, gate: Path, start: Callable[[], Up], stop_signal: signal.Signals
) -> tuple[list[pb.PipelineProgress], list[str]]:
    """Runs req on one `up`, stops it with stop_signal while the stage prints, lets the
    stage end on a second `up`; the pipeline's transitions and its log as the second one
    tells them."""
    first = start()
    try:
        async with aio.insecure_channel(first.address) as channel:
            stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
            started = stub.ExecutePipeline(req)
            first_event = await started.read()
            assert isinstance(first_event, pb.PipelineProgress)
            assert first_event.status == pb.STAGE_RUNNING
            # Mid-stage: its output is flowing into the log.
            await eventually(lambda: _at_least(stub, req.pipeline_id, 5), within=60)
            started.cancel()
        first.process.send_signal(stop_signal)
        exit_code = first.process.wait(timeout=EXIT_WITHIN)
        assert exit_code == (0 if stop_signal is signal.SIGTERM else -stop_signal)
    finally:
        stop(first)

    second = start()
    try:
        await asyncio.to_thread(gate.touch)
        async with aio.insecure_channel(second.address) as channel:
            stub = pb_grpc.OttoscalerServiceStub(channel)
            # ExecutePipeline attaches to the running pipeline and replays every transition.
            events = [event async for event in stub.ExecutePipeline(req, timeout=FINISH_WITHIN)]
            lines = await printed(stub, req.pipeline_id)
    finally:
        stop(second)

    return events, lines


async def _at_least(stub: pb_grpc.OttoscalerServiceAsyncStub, pipeline_id: str, count: int) -> bool:
    return len(await printed(stub, pipeline_id)) >= count
