"""Three `ottoscaler serve` replicas share one Temporal, one Kubernetes API and one
PostgreSQL; two are SIGKILLed at random moments while a pipeline's workers print. The
survivor finishes the pipeline, serves every line once and in order, and otto-handler
gets every line in order, a line again only where a replica died between otto-handler's
answer and recording it (at most one per pod and death: the window is 1)."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from grpc import aio
from temporalio.client import Client

from gateway.reaper.schedule import reaper_schedule_id
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.kube.fixtures import NAMESPACE, KubeCluster
from tests.logs.otto_handler import FakeOttoHandler, serving
from tests.logs.pipelines import by_pod, collect, printed
from tests.reliability.cluster import pod_creations
from tests.reliability.serve import Serve, start_serve
from tests.waiting import eventually

CHATTY, AFTER = ("chatty", 4, 150, "15"), ("after", 2, 40, "1")
REPLICAS = 3
FINISH_WITHIN = 150.0  # killed activities come back after their 30 s heartbeat timeout


def request() -> pb.PipelineRequest:
    return pb.PipelineRequest(
        pipeline_id=f"rep-{uuid.uuid4().hex[:8]}",
        repository="otto/demo",
        stages=[
            pb.PipelineStage(
                stage_id=stage_id,
                type="test",
                worker_count=workers,
                depends_on=["chatty"] if stage_id == "after" else [],
                config={"FAKE_LINES": str(lines), "FAKE_DURATION": seconds},
            )
            for stage_id, workers, lines, seconds in (CHATTY, AFTER)
        ],
    )


@pytest.fixture
async def otto_handler() -> AsyncIterator[tuple[FakeOttoHandler, str]]:
    handler = FakeOttoHandler()
    async with serving(handler) as address:
        yield handler, address


@pytest.fixture
async def replicas(
    serve_env: dict[str, str],
    database_url: str,
    otto_handler: tuple[FakeOttoHandler, str],
    tmp_path: Path,
    client: Client,
    task_queue: str,
) -> AsyncIterator[list[Serve]]:
    """Each with a data dir of its own, as pods with an emptyDir have."""
    shared = {
        **serve_env,
        "OTTOSCALER_DATABASE_URL": database_url,
        "OTTO_HANDLER_ADDR": otto_handler[1],
        "OTTOSCALER_SIGNING_KEY": uuid.uuid4().hex,
    }
    started = []
    try:
        for n in range(REPLICAS):
            env = {**shared, "OTTOSCALER_DATA_DIR": str(tmp_path / f"data-{n}")}
            started.append(await start_serve(env, tmp_path / f"serve-{n}.log"))
        yield started
    finally:
        for serve in started:
            serve.kill()
            await serve.process.wait()
        await client.get_schedule_handle(reaper_schedule_id(task_queue)).delete()


def assert_in_order_repeating_only_the_unrecorded(arrived: list[int], lines: int) -> int:
    """Every sequence from 1 to `lines` arrived, in order: never one past the highest so
    far plus one. Returns how many arrived again."""
    highest = 0
    for sequence in arrived:
        assert sequence <= highest + 1, f"#{sequence} arrived after only {highest}"
        highest = max(highest, sequence)
    assert sorted(set(arrived)) == list(range(1, lines + 1))
    return len(arrived) - lines


async def test_two_of_three_replicas_die_and_nothing_is_lost(
    replicas: list[Serve],
    otto_handler: tuple[FakeOttoHandler, str],
    kube_cluster: KubeCluster,
) -> None:
    handler = otto_handler[0]
    seed = random.randrange(2**32)
    chance = random.Random(seed)
    survivor, *doomed = chance.sample(replicas, REPLICAS)
    req = request()
    async with aio.insecure_channel(survivor.address) as channel:
        stub: pb_grpc.OttoscalerServiceAsyncStub = pb_grpc.OttoscalerServiceStub(channel)
        running = asyncio.create_task(collect(stub.ExecutePipeline(req)))

        async def printing() -> bool:
            return sum(map(len, handler.accepted.values())) >= 20

        await eventually(printing, within=60)
        for serve in doomed:  # at random moments while the first stage prints
            await asyncio.sleep(chance.uniform(0, 4))  # the moment itself is under test
            serve.process.send_signal(signal.SIGKILL)
            assert await serve.process.wait() == -signal.SIGKILL, f"seed {seed}"

        progress = await asyncio.wait_for(running, FINISH_WITHIN)
        assert progress[-1].status == pb.STAGE_COMPLETED, f"seed {seed}"
        logs = pb.WorkerLogsRequest(pipeline_id=req.pipeline_id)
        pods = by_pod(await collect(stub.StreamWorkerLogs(logs)))

    expected = {"-chatty-": CHATTY[2], "-after-": AFTER[2]}
    assert len(pods) == CHATTY[1] + AFTER[1]
    for pod, lines in pods.items():
        count = next(n for part, n in expected.items() if part in pod)
        assert lines == printed(count), (pod, seed)

    async def forwarded() -> bool:
        return all(len(set(handler.accepted[pod])) == len(pods[pod]) for pod in pods)

    await eventually(forwarded, within=60)
    repeats = {
        pod: assert_in_order_repeating_only_the_unrecorded(handler.accepted[pod], len(lines))
        for pod, lines in pods.items()
    }
    assert sum(repeats.values()) <= len(doomed) * len(pods), (repeats, seed)
    emulator = kube_cluster.emulator
    assert pod_creations(emulator) == dict.fromkeys(pods, 1), f"seed {seed}"
    assert emulator.pods(NAMESPACE) == []
    assert survivor.logged_errors() == []
