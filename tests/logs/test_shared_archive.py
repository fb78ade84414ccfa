"""What every LogArchive keeps, on files and in PostgreSQL: each line once and in order,
one writer and one forwarder per pod across processes, pods found by label, whole tasks
pruned. Two archive objects on one store stand for two replicas."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.database.connect import database
from activities.logs import Archive, ArchiveBusy, LogArchive, LogSelector, PodMeta
from activities.logs.lines import LogLine
from activities.logs.postgres.archive import PostgresArchive
from activities.logs.postgres.locks import AdvisoryLocks
from tests.postgres import fresh_database

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
Replica = Callable[[], Awaitable[LogArchive]]


@pytest.fixture(params=["files", "postgres"])
async def replica(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_server: str
) -> AsyncIterator[Replica]:
    """Makes archive objects on one store, each as a replica of its own would hold."""
    async with AsyncExitStack() as stack:
        if request.param == "files":

            async def files() -> LogArchive:
                return Archive(tmp_path)

            yield files
            return
        url = await stack.enter_async_context(fresh_database(postgres_server))

        async def postgres() -> LogArchive:
            pool = await stack.enter_async_context(database(url))
            locks = AdvisoryLocks(url)
            stack.push_async_callback(locks.close)
            return PostgresArchive(pool, locks, origin=str(id(pool)))

        yield postgres


def lines(first: int, last: int, text: str = 'line {n} "quoted" ü') -> list[LogLine]:
    return [
        LogLine(timestamp=NOW, source="stdout", message=text.format(n=n), sequence=n)
        for n in range(first, last + 1)
    ]


def meta(pod: str = "p1-build-0", stage: str = "build", task: str = "p1") -> PodMeta:
    return PodMeta(pod=pod, task_id=task, pipeline_id=task, stage_id=stage, created_at=NOW)


async def everything(archive: LogArchive, pod: PodMeta) -> list[tuple[int, str]]:
    reader, got = archive.reader(pod), list[tuple[int, str]]()
    while batch := await reader.read(after=len(got)):
        got.extend((line.sequence, line.message) for line in batch)
    return got


async def test_each_line_is_kept_once_whoever_writes_it(replica: Replica) -> None:
    first, second, pod = await replica(), await replica(), meta()
    writer, _ = await first.open_writer(pod, forward=False)
    await writer.append(lines(1, 10))
    await writer.close()
    # A retried tail on another replica resumes from an older heartbeat: 5..10 again.
    writer, stored = await second.open_writer(pod, forward=False)
    assert stored.lines == writer.last_sequence == 10
    assert [line.sequence for line in await writer.append(lines(5, 15))] == list(range(11, 16))
    await writer.close()
    assert await everything(first, pod) == [(n, f'line {n} "quoted" ü') for n in range(1, 16)]


@pytest.mark.parametrize("replica", ["postgres"], indirect=True)
async def test_a_writer_that_lost_its_hold_keeps_each_line_once(replica: Replica) -> None:
    """Its lock went with its connection and another replica wrote on meanwhile: what
    both wrote is kept once, as the first to write it wrote it."""
    first, second, pod = await replica(), await replica(), meta()
    stale, _ = await first.open_writer(pod, forward=False)
    await stale.append(lines(1, 10))
    await stale.close()
    writer, _ = await second.open_writer(pod, forward=False)
    await writer.append(lines(11, 15, "again {n}"))
    await writer.close()
    await stale.append(lines(11, 20))
    assert await everything(first, pod) == [
        *((n, f'line {n} "quoted" ü') for n in range(1, 11)),
        *((n, f"again {n}") for n in range(11, 16)),
        *((n, f'line {n} "quoted" ü') for n in range(16, 21)),
    ]


async def test_one_writer_per_pod_across_replicas(replica: Replica) -> None:
    first, second, pod = await replica(), await replica(), meta()
    writer, _ = await first.open_writer(pod, forward=False)
    with pytest.raises(ArchiveBusy):
        await second.open_writer(pod, forward=False)
    await writer.close()
    again, _ = await second.open_writer(pod, forward=False)
    await again.close()


async def test_a_reader_gets_lines_past_a_gap_in_sequences(replica: Replica) -> None:
    """Sequences run without gaps, and a reader reads ranges of them; should one skip
    (by more than a read's batch), nothing after it may look like the end."""
    archive, pod = await replica(), meta()
    writer, _ = await archive.open_writer(pod, forward=False)
    await writer.append([*lines(1, 3), *lines(20_001, 20_003)])
    await writer.close()
    assert [n for n, _ in await everything(archive, pod)] == [1, 2, 3, 20_001, 20_002, 20_003]


async def test_any_output_survives_the_trip(replica: Replica) -> None:
    """NUL, control characters and non-BMP text are a worker's to print."""
    archive, pod = await replica(), meta()
    odd = ["nul \x00 inside", "\x1b[31mred\x1b[0m", "emoji 🚀 and 𝄞", "", " " * 1000]
    writer, _ = await archive.open_writer(pod, forward=False)
    await writer.append(
        [
            LogLine(timestamp=NOW, source="stderr", message=text, sequence=n)
            for n, text in enumerate(odd, 1)
        ]
    )
    await writer.close()
    assert [message for _, message in await everything(archive, pod)] == odd


async def test_pods_are_found_by_pipeline_stage_and_pod(replica: Replica) -> None:
    archive = await replica()
    for pod in (meta("p1-build-0"), meta("p1-test-0", "test"), meta("odd/pod name", "test")):
        await (await archive.open_writer(pod, forward=False))[0].close()
    await (await archive.open_writer(meta("p2-build-0", task="p2"), forward=False))[0].close()
    other = await replica()

    async def found(**selector: str) -> list[str]:
        return [m.pod for m in await other.find(LogSelector(**selector))]

    assert await found(pipeline_id="p1") == ["odd/pod name", "p1-build-0", "p1-test-0"]
    assert await found(pipeline_id="p1", stage_id="test") == ["odd/pod name", "p1-test-0"]
    assert await found(stage_id="build") == ["p1-build-0", "p2-build-0"]
    assert await found(pod="p2-build-0") == ["p2-build-0"]
    assert await found(pipeline_id="p3") == []


async def test_a_forward_is_held_by_one_replica_and_resumes_where_it_stopped(
    replica: Replica,
) -> None:
    first, second, pod = await replica(), await replica(), meta()
    writer, stored = await first.open_writer(pod, forward=True)
    await writer.append(lines(1, 5))
    await writer.close()
    await first.save(stored.model_copy(update={"complete": True, "lines": 5}))
    assert [m.pod for m in await second.pending_forwards()] == [pod.pod]

    mark = await first.acquire_forward(pod)
    assert mark is not None and mark.position == 0
    assert await second.acquire_forward(pod) is None  # held
    await mark.commit(3)
    await mark.close()  # the holder stops (or dies) before the end

    taken = await second.acquire_forward(pod)
    assert taken is not None and taken.position == 3  # resumes after the last settled
    await taken.commit(5)
    await taken.finish()
    assert await first.pending_forwards() == []
    assert await first.acquire_forward(pod) is None  # finished


async def test_prune_takes_whole_finished_forwarded_tasks_only(replica: Replica) -> None:
    archive = await replica()
    for task, complete, forward in (
        ("done", True, False),
        ("running", False, False),
        ("unforwarded", True, True),
    ):
        writer, stored = await archive.open_writer(meta(f"{task}-0", task=task), forward=forward)
        await writer.append(lines(1, 2))
        await writer.close()
        await archive.save(stored.model_copy(update={"complete": complete}))
    assert await archive.prune(before=time.time() - 3600) == []  # all written just now
    assert await archive.prune(before=time.time() + 3600) == ["done"]
    assert await archive.find(LogSelector(task_id="done")) == []
    assert [m.task_id for m in await archive.find(LogSelector())] == ["running", "unforwarded"]


@pytest.mark.parametrize("replica", ["postgres"], indirect=True)
async def test_prune_frees_the_lines_of_the_tasks_it_deletes(replica: Replica) -> None:
    archive = await replica()
    assert isinstance(archive, PostgresArchive)
    for task in ("done", "running"):
        writer, stored = await archive.open_writer(meta(f"{task}-0", task=task), forward=False)
        await writer.append(lines(1, 3))
        await writer.close()
        await archive.save(stored.model_copy(update={"complete": task == "done"}))
    assert await archive.prune(before=time.time() + 3600) == ["done"]
    assert await archive.pool.fetchval("SELECT count(*) FROM log_lines") == 3
