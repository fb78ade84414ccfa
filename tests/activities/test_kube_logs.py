"""The kubernetes runtime's follow_output: pods/log through the real client, against the
API emulator, whose fake kubelet prints FAKE_LINES lines "line 1".."line N"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.logs import Archive, LiveHub, LogSelector, LogSinks, pod_meta
from activities.logs.lines import CONTINUED, MAX_LINE_BYTES, LogCursor, OutputLine
from activities.runtimes.kubernetes.runtime import KubernetesRuntime
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    RuntimeFailure,
    TransientRuntimeError,
    WorkerNotFound,
)
from activities.workers.tail import LogTail
from gateway.worker import create_worker
from tests.builders import pipeline, run_pipeline
from tests.kube.emulator import KubeEmulator
from tests.kube.fixtures import NAMESPACE, TEST_TUNING, KubeCluster
from tests.kube.server import Request
from tests.logs.pipelines import printed
from tests.signing import admission
from workflows.pipeline.models import StageSpec, StageStatus
from workflows.workers.spec import WorkerSpec

WITHIN = 10.0
FROM_THE_START = LogCursor()


def spec(name: str = "w", /, **env: str | float | int) -> WorkerSpec:
    return WorkerSpec(name=name, env={key: str(value) for key, value in env.items()})


def lines(count: int, first: int = 1) -> list[str]:
    return [f"line {n}" for n in range(first, count + 1)]


async def follow(
    runtime: KubernetesRuntime,
    worker: WorkerSpec,
    after: LogCursor = FROM_THE_START,
    *,
    upto: int | None = None,
    on_line: Callable[[int], None] = lambda received: None,
) -> list[OutputLine]:
    """The lines follow_output yields, to its end or to the first `upto` (then it is closed).

    on_line(number received so far) runs after each line: tests act on the pod from there.
    """

    async def collect() -> list[OutputLine]:
        got: list[OutputLine] = []
        output = runtime.follow_output(worker, after)
        assert isinstance(output, AsyncGenerator)
        async with aclosing(output):  # closed at once when cut short, as a cancelled tail
            async for batch in output:
                for line in batch:
                    got.append(line)
                    if len(got) == upto:
                        return got
                    on_line(len(got))
        return got

    return await asyncio.wait_for(collect(), WITHIN)


def log_requests(emulator: KubeEmulator, name: str = "w") -> list[Request]:
    return [r for r in emulator.requests if r.path.endswith(f"/pods/{name}/log")]


async def test_every_line_arrives_in_order_and_the_follow_ends_when_the_pod_exits(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    worker = spec(FAKE_LINES=200, FAKE_DURATION=0.5)
    await kube_runtime.create(worker)

    got = await follow(kube_runtime, worker)

    assert [line.message for line in got] == lines(200)
    assert {line.source for line in got} == {"stdout"}  # the log merges stdout and stderr
    assert [line.timestamp for line in got] == sorted(line.timestamp for line in got)
    assert kube_cluster.emulator.phase(NAMESPACE, "w") == "Succeeded"
    [first, *_] = log_requests(kube_cluster.emulator)
    assert (first.query["follow"], first.query["timestamps"]) == ("true", "true")


async def test_lines_printed_before_the_follow_started_are_not_lost(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    running = spec("running", FAKE_LINES=6000, FAKE_DURATION=20)
    ended = spec("ended", FAKE_LINES=50)
    await kube_runtime.create(running)
    await kube_runtime.create(ended)
    await emulator.until(lambda: len(emulator.store.logs(NAMESPACE, "running")) >= 20)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "ended") == "Succeeded")

    assert [line.message for line in await follow(kube_runtime, ended)] == lines(50)
    got = await follow(kube_runtime, running, upto=20)
    assert [line.message for line in got] == lines(20)


async def test_a_pending_pod_is_waited_for_then_followed(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_WAITING_REASON="ContainerCreating", FAKE_LINES=5, FAKE_DURATION=0.05)
    await kube_runtime.create(worker)
    following = asyncio.create_task(follow(kube_runtime, worker))
    # Refused (400, waiting to start), it watches the pod instead of asking again.
    await emulator.until(lambda: emulator.open_watches == 1)
    refused = len(log_requests(emulator))

    emulator.release(NAMESPACE, "w")
    got = await following

    assert [line.message for line in got] == lines(5)
    assert refused == 1
    assert len(log_requests(emulator)) <= 4  # no spinning on 400 while it waited


async def test_a_pod_deleted_before_its_container_started_has_no_output(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_WAITING_REASON="ImagePullBackOff", FAKE_LINES=5)
    await kube_runtime.create(worker)
    following = asyncio.create_task(follow(kube_runtime, worker))
    await emulator.until(lambda: emulator.open_watches == 1)

    emulator.delete_pod(NAMESPACE, "w")

    assert await following == []


async def test_a_resumed_follow_delivers_exactly_the_lines_after_the_cursor(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    worker = spec(FAKE_LINES=300, FAKE_DURATION=0.6)
    await kube_runtime.create(worker)
    first = await follow(kube_runtime, worker, upto=100)
    cursor = LogCursor().advance(first)
    before = len(log_requests(kube_cluster.emulator))

    rest = await follow(kube_runtime, worker, cursor)

    assert [line.message for line in rest] == lines(300, first=101)
    resumed = log_requests(kube_cluster.emulator)[before].query["sinceTime"]
    assert resumed == first[-1].timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_lines_sharing_a_timestamp_resume_exactly(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    at = datetime.now(UTC).replace(microsecond=123456)
    emulator.print(NAMESPACE, "w", "same 1", "same 2", "same 3 ü", at=at)
    emulator.print(NAMESPACE, "w", "same 4", "same 5", at=at)
    emulator.print(NAMESPACE, "w", "later", at=at + timedelta(microseconds=1))
    first = await follow(kube_runtime, worker, upto=2)
    assert first[0].timestamp == at

    def exit_at_the_end(received: int) -> None:
        if received == 4:
            emulator.exit(NAMESPACE, "w")

    rest = await follow(kube_runtime, worker, LogCursor().advance(first), on_line=exit_at_the_end)

    assert [line.message for line in rest] == ["same 3 ü", "same 4", "same 5", "later"]


async def test_a_line_over_the_limit_is_cut_and_its_pieces_keep_its_time(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    at = datetime.now(UTC)
    long_line = "x" * 100_000
    emulator.print(NAMESPACE, "w", long_line, at=at)
    emulator.print(NAMESPACE, "w", "after", at=at + timedelta(seconds=1))
    emulator.exit(NAMESPACE, "w")

    cut, rest, after = await follow(kube_runtime, worker)

    assert cut.message.endswith(CONTINUED)
    assert len(cut.message.encode()) < MAX_LINE_BYTES + len(CONTINUED.encode())
    assert cut.message.removesuffix(CONTINUED) + rest.message == long_line
    assert (cut.timestamp, rest.timestamp) == (at, at)
    assert (after.message, after.timestamp) == ("after", at + timedelta(seconds=1))


async def test_a_dropped_log_stream_is_resumed_without_loss_or_duplicates(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_LINES=6000, FAKE_DURATION=20)
    await kube_runtime.create(worker)

    def disrupt(received: int) -> None:
        if received == 50:
            emulator.drop_watches()
        elif received == 200:
            emulator.exit(NAMESPACE, "w")  # prints the rest at once

    got = await follow(kube_runtime, worker, on_line=disrupt)

    assert [line.message for line in got] == lines(6000)
    resumed = [r for r in log_requests(emulator) if "sinceTime" in r.query]
    assert resumed  # reopened by time, after what it had


async def test_a_pod_deleted_mid_stream_ends_the_follow(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_LINES=6000, FAKE_DURATION=20)
    await kube_runtime.create(worker)

    def delete(received: int) -> None:
        if received == 50:
            emulator.delete_pod(NAMESPACE, "w")

    got = await follow(kube_runtime, worker, on_line=delete)

    assert [line.message for line in got] == lines(len(got))
    assert 50 <= len(got) < 6000


async def test_a_cancelled_follow_lets_go_of_its_stream_at_once(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    following = asyncio.create_task(follow(kube_runtime, worker))
    await emulator.until(lambda: emulator.open_log_streams == 1)  # silent: its read blocks

    following.cancel()

    await emulator.until(lambda: emulator.open_log_streams == 0)
    assert following.cancelled()


async def test_closing_the_runtime_ends_a_follow_in_progress(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    following = asyncio.create_task(follow(kube_runtime, worker))
    await emulator.until(lambda: emulator.open_log_streams == 1)

    await kube_runtime.close()

    with pytest.raises(TransientRuntimeError, match="closed"):
        await following  # another Temporal worker resumes the tail
    await emulator.until(lambda: emulator.open_log_streams == 0)


async def test_an_unknown_pod_raises_worker_not_found(kube_runtime: KubernetesRuntime) -> None:
    with pytest.raises(WorkerNotFound, match="'nope' not found"):
        await follow(kube_runtime, spec("nope"))


async def test_a_500_is_retried_before_it_becomes_transient(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_LINES=5)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Succeeded")
    emulator.fail_next("GET", r"/pods/w/log", 500)

    assert [line.message for line in await follow(kube_runtime, worker)] == lines(5)
    assert emulator.pending_faults == 0


@pytest.mark.parametrize(
    ("status", "times", "error", "message"),
    [
        (500, TEST_TUNING.watch_retries + 1, TransientRuntimeError, "error 500 on read the log"),
        (403, 1, PermanentRuntimeError, "may not read the log of pods"),
        # Refused twice while the container runs: not "waiting to start".
        (400, 2, PermanentRuntimeError, "refused to read the log of pod 'w'"),
    ],
    ids=["500-persists", "403", "400-while-running"],
)
async def test_errors_of_the_log_endpoint_are_runtime_errors(
    kube_cluster: KubeCluster,
    kube_runtime: KubernetesRuntime,
    status: int,
    times: int,
    error: type[RuntimeFailure],
    message: str,
) -> None:
    emulator = kube_cluster.emulator
    worker = spec(FAKE_DURATION=60)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Running")
    emulator.fail_next("GET", r"/pods/w/log", status, times=times)

    with pytest.raises(error, match=message):
        await follow(kube_runtime, worker)


async def test_a_pipeline_on_kubernetes_archives_every_line_of_its_pods(
    client: Client, task_queue: str, kube_runtime: KubernetesRuntime, tmp_path: Path
) -> None:
    config = {"FAKE_DURATION": "0.2", "FAKE_LINES": "40"}
    request = pipeline(StageSpec(stage_id="build", type="build", worker_count=2, config=config))
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub())
    async with create_worker(client, task_queue, kube_runtime, admission(), logs=sinks):
        result, _ = await run_pipeline(client, task_queue, request)

    assert result.status is StageStatus.COMPLETED
    pods = await archive.find(LogSelector(pipeline_id=request.pipeline_id))
    assert len(pods) == 2
    for pod in pods:
        archived = await archive.reader(pod).read(after=0)
        assert [(line.sequence, line.message) for line in archived] == printed(40)


async def test_the_tail_resumes_a_log_whose_endpoint_failed_for_a_while(
    kube_cluster: KubeCluster, kube_runtime: KubernetesRuntime, tmp_path: Path
) -> None:
    """More 500s than the runtime retries: the follow gives up with a transient error,
    and run_worker's tail pauses and resumes from its cursor instead of losing the log
    until the worker ends."""
    emulator = kube_cluster.emulator
    worker = spec(FAKE_LINES=5)
    await kube_runtime.create(worker)
    await emulator.until(lambda: emulator.phase(NAMESPACE, "w") == "Succeeded")
    emulator.fail_next("GET", r"/pods/w/log", 500, times=TEST_TUNING.watch_retries + 1)
    archive = Archive(tmp_path)
    sinks = LogSinks(archive, LiveHub())

    async def tail() -> str:
        async with await sinks.open(pod_meta(worker)) as pod_log:
            return await LogTail(kube_runtime, worker, pod_log).follow()

    assert await ActivityEnvironment().run(tail) == ""
    assert emulator.pending_faults == 0
    (pod,) = await archive.find(LogSelector(pod="w"))
    assert [(line.sequence, line.message) for line in await archive.reader(pod).read(after=0)] == (
        printed(5)
    )
