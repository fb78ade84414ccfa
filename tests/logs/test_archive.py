"""The archive holds each line once, survives torn writes, and finds pods by label."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.logs import Archive, ArchiveBusy, LogSelector, PodMeta
from activities.logs.lines import LogLine

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


def lines(first: int, last: int) -> list[LogLine]:
    return [
        LogLine(timestamp=NOW, source="stdout", message=f'line {n} "quoted" ü', sequence=n)
        for n in range(first, last + 1)
    ]


def meta(pod: str = "p1-build-0", stage: str = "build") -> PodMeta:
    return PodMeta(pod=pod, task_id="p1", pipeline_id="p1", stage_id=stage)


async def archived(archive: Archive, pod: PodMeta) -> list[tuple[int, str]]:
    return [(line.sequence, line.message) for line in await archive.reader(pod).read(after=0)]


async def test_a_resumed_writer_skips_what_the_archive_holds(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = await archive.open_writer(pod, forward=False)
    await writer.append(lines(1, 10))
    await writer.close()
    # A retried tail resumed from an older heartbeat sends 5..10 again.
    writer, stored = await archive.open_writer(pod, forward=False)
    assert stored.lines == writer.last_sequence == 10
    assert [line.sequence for line in await writer.append(lines(5, 15))] == list(range(11, 16))
    await writer.close()
    assert await archived(archive, pod) == [(n, f'line {n} "quoted" ü') for n in range(1, 16)]


async def test_a_torn_last_line_is_cut_off_when_reopened(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = await archive.open_writer(pod, forward=False)
    await writer.append(lines(1, 3))
    await writer.close()
    with archive.paths(pod).lines.open("ab") as file:
        file.write(b'{"seq":4,"ts":"2025-09-01T12:00')  # the process died mid-write
    writer, _ = await archive.open_writer(pod, forward=False)
    assert writer.last_sequence == 3
    await writer.append(lines(4, 4))
    await writer.close()
    assert [n for n, _ in await archived(archive, pod)] == [1, 2, 3, 4]


async def test_one_writer_per_pod_at_a_time(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = await archive.open_writer(pod, forward=False)
    with pytest.raises(ArchiveBusy):
        await Archive(tmp_path).open_writer(pod, forward=False)
    await writer.close()
    again, _ = await Archive(tmp_path).open_writer(pod, forward=False)
    await again.close()


async def test_pods_are_found_by_pipeline_stage_and_pod(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    for pod in (meta("p1-build-0"), meta("p1-test-0", "test"), meta("odd/pod name", "test")):
        await (await archive.open_writer(pod, forward=False))[0].close()
    other = PodMeta(pod="p2-build-0", task_id="p2", pipeline_id="p2", stage_id="build")
    await (await archive.open_writer(other, forward=False))[0].close()

    async def found(**selector: str) -> list[str]:
        return [m.pod for m in await Archive(tmp_path).find(LogSelector(**selector))]

    assert await found(pipeline_id="p1") == ["p1-build-0", "p1-test-0", "odd/pod name"]
    assert await found(pipeline_id="p1", stage_id="test") == ["p1-test-0", "odd/pod name"]
    assert await found(stage_id="build") == ["p1-build-0", "p2-build-0"]
    assert await found(pod="p2-build-0") == ["p2-build-0"]
    assert await found(pipeline_id="p3") == []


async def test_a_reader_returns_only_whole_new_lines(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = await archive.open_writer(pod, forward=False)
    reader = archive.reader(pod)
    await writer.append(lines(1, 2))
    assert [line.sequence for line in await reader.read(after=0)] == [1, 2]
    with archive.paths(pod).lines.open("ab") as file:
        file.write(b'{"seq":3,')  # being written
    assert await reader.read(after=2) == []
    await writer.close()
