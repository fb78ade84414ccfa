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


def archived(archive: Archive, pod: PodMeta) -> list[tuple[int, str]]:
    return [(line.sequence, line.message) for line in archive.reader(pod).read(after=0)]


def test_a_resumed_writer_skips_what_the_archive_holds(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = archive.open_writer(pod, forward=False)
    writer.append(lines(1, 10))
    writer.close()
    # A retried tail resumed from an older heartbeat sends 5..10 again.
    writer, stored = archive.open_writer(pod, forward=False)
    assert stored.lines == writer.last_sequence == 10
    assert [line.sequence for line in writer.append(lines(5, 15))] == list(range(11, 16))
    writer.close()
    assert archived(archive, pod) == [(n, f'line {n} "quoted" ü') for n in range(1, 16)]


def test_a_torn_last_line_is_cut_off_when_reopened(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = archive.open_writer(pod, forward=False)
    writer.append(lines(1, 3))
    writer.close()
    with archive.paths(pod).lines.open("ab") as file:
        file.write(b'{"seq":4,"ts":"2025-09-01T12:00')  # the process died mid-write
    writer, _ = archive.open_writer(pod, forward=False)
    assert writer.last_sequence == 3
    writer.append(lines(4, 4))
    writer.close()
    assert [n for n, _ in archived(archive, pod)] == [1, 2, 3, 4]


def test_one_writer_per_pod_at_a_time(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = archive.open_writer(pod, forward=False)
    with pytest.raises(ArchiveBusy):
        Archive(tmp_path).open_writer(pod, forward=False)
    writer.close()
    again, _ = Archive(tmp_path).open_writer(pod, forward=False)
    again.close()


def test_pods_are_found_by_pipeline_stage_and_pod(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    for pod in (meta("p1-build-0"), meta("p1-test-0", "test"), meta("odd/pod name", "test")):
        archive.open_writer(pod, forward=False)[0].close()
    other = PodMeta(pod="p2-build-0", task_id="p2", pipeline_id="p2", stage_id="build")
    archive.open_writer(other, forward=False)[0].close()

    def found(**selector: str) -> list[str]:
        return [m.pod for m in Archive(tmp_path).find(LogSelector(**selector))]

    assert found(pipeline_id="p1") == ["p1-build-0", "p1-test-0", "odd/pod name"]
    assert found(pipeline_id="p1", stage_id="test") == ["p1-test-0", "odd/pod name"]
    assert found(stage_id="build") == ["p1-build-0", "p2-build-0"]
    assert found(pod="p2-build-0") == ["p2-build-0"]
    assert found(pipeline_id="p3") == []


def test_a_reader_returns_only_whole_new_lines(tmp_path: Path) -> None:
    archive, pod = Archive(tmp_path), meta()
    writer, _ = archive.open_writer(pod, forward=False)
    reader = archive.reader(pod)
    writer.append(lines(1, 2))
    assert [line.sequence for line in reader.read(after=0)] == [1, 2]
    with archive.paths(pod).lines.open("ab") as file:
        file.write(b'{"seq":3,')  # being written
    assert reader.read(after=2) == []
    writer.close()
