"""The pipeline's state machine: each named transition, its event, times and metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workflows.base.sizes import MAX_PAYLOAD_BYTES, json_bytes
from workflows.pipeline.models import StageMetrics, StageState, StageStatus
from workflows.pipeline.progress import (
    MAX_ERROR_CHARS,
    MAX_MESSAGE_CHARS,
    PAGE_EVENTS_BYTES,
    PipelineProgress,
)

T0 = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def progress() -> PipelineProgress:
    return PipelineProgress(
        "p1",
        [StageState(stage_id="build", max_attempts=2), StageState(stage_id="deploy")],
    )


def test_a_retried_stage_moves_through_every_status_with_one_event_each() -> None:
    p = progress()
    p.update_pipeline(at(0), StageStatus.RUNNING, "pipeline started: 2 stages")
    p.stage_scheduled(at(1), "build")
    p.attempt_started(at(2), "build", 1, ("w-a1",))
    p.retry_scheduled(at(5), "build", 2, 10, "shard 0: Error (exit 1)")
    p.attempt_started(at(15), "build", 2, ("w-a2",))
    p.stage_ended(
        at(20),
        "build",
        StageStatus.COMPLETED,
        "1/1 workers succeeded in 2 attempt(s)",
        attempt=2,
        worker_pod_names=("w-a2",),
        error_message="",
        metrics=StageMetrics(successful_workers=1, total_workers=1),
    )
    events = [(e.version, e.stage_id, e.status, e.message) for e in p.page(0).events]
    assert events == [
        (1, "", StageStatus.RUNNING, "pipeline started: 2 stages"),
        (2, "build", StageStatus.RUNNING, "starting"),
        (3, "build", StageStatus.RUNNING, "attempt 1/2"),
        (4, "build", StageStatus.RETRYING, "attempt 2/2 in 10s"),
        (5, "build", StageStatus.RUNNING, "attempt 2/2"),
        (6, "build", StageStatus.COMPLETED, "1/1 workers succeeded in 2 attempt(s)"),
    ]
    build = p.stages["build"]
    assert (build.started_at, build.completed_at) == (at(1), at(20))
    assert build.metrics.duration_seconds == 19
    assert build.error_message == ""  # the retry's error is gone once an attempt starts
    assert p.percentage == 50


def test_a_retry_keeps_its_error_until_the_next_attempt() -> None:
    p = progress()
    p.attempt_started(at(0), "build", 1, ("w-a1",))
    p.retry_scheduled(at(1), "build", 2, 0, "shard 0: OOMKilled")
    assert p.stages["build"].error_message == "shard 0: OOMKilled"
    assert p.stages["build"].worker_pod_names == ("w-a1",)


def test_skipped_cancelled_and_reused_stages_finish_without_running() -> None:
    p = progress()
    p.stage_reused(at(0), "build", {})
    p.stage_skipped(at(1), "deploy", "skipped: upstream stage build failed")
    assert p.stages["build"].status is StageStatus.COMPLETED
    assert p.stages["build"].message == "reused from the previous run"
    assert p.stages["deploy"].started_at is None
    assert p.stages["deploy"].completed_at == at(1)
    assert p.percentage == 100
    p2 = progress()
    p2.stage_cancelled(at(3), "build", "cancelled: by CancelPipeline")
    assert p2.stages["build"].status is StageStatus.CANCELLED


def test_the_pipeline_event_sums_its_stages_metrics() -> None:
    p = progress()
    p.update_pipeline(at(0), StageStatus.RUNNING, "started")
    for stage_id, ok, failed in (("build", 3, 0), ("deploy", 1, 2)):
        p.stage_ended(
            at(4),
            stage_id,
            StageStatus.COMPLETED if not failed else StageStatus.FAILED,
            "done",
            attempt=1,
            worker_pod_names=(),
            error_message="",
            metrics=StageMetrics(
                successful_workers=ok, failed_workers=failed, total_workers=ok + failed
            ),
        )
    p.update_pipeline(at(9), StageStatus.FAILED, "pipeline failed", "stage deploy: Error")
    final = p.page(0).events[-1]
    assert final.metrics == StageMetrics(
        duration_seconds=9, successful_workers=4, failed_workers=2, total_workers=6
    )
    assert (final.progress_percentage, final.error_message) == (100, "stage deploy: Error")
    assert p.snapshot().completed_at == at(9)


def test_pages_hold_the_events_after_a_version_and_at_most_their_bytes() -> None:
    p = progress()
    for second in range(40):
        p.retry_scheduled(at(second), "build", 2, 0, "e" * 60_000)
    after, pages = 2, 0
    while page := p.page(after).events:
        assert [e.version for e in page] == list(range(after + 1, after + 1 + len(page)))
        assert sum(json_bytes(e) for e in page) <= PAGE_EVENTS_BYTES
        after, pages = page[-1].version, pages + 1
    assert (after, pages) == (40, 5)
    assert p.page(2).snapshot.version == 40
    assert p.page(2**31 - 1).events == ()
    tail = p.tail(100)
    assert tail.events[-1].version == 40 and len(tail.events) == 8
    assert len(p.tail(3).events) == 3


def test_texts_from_outside_are_cut_so_that_any_answer_fits_one_payload() -> None:
    stages = [StageState(stage_id=f"s{n}") for n in range(1000)]
    p = PipelineProgress("p1", stages)
    for n in range(1000):
        p.retry_scheduled(at(n), f"s{n}", 2, 0, "e" * 100_000)
    p.stage_cancelled(at(1000), "s0", "cancelled: " + "why " * 100_000)
    assert len(p.events[-1].message) == MAX_MESSAGE_CHARS
    assert len(p.events[-2].error_message) == MAX_ERROR_CHARS
    assert p.events[-2].error_message.endswith(" …[cut]")
    snapshot = p.snapshot()
    assert snapshot.stages[1].message == "attempt 2/1 in 0s", "short texts stay whole"
    assert json_bytes(p.page(0)) <= MAX_PAYLOAD_BYTES
    assert json_bytes(p.tail(100)) <= MAX_PAYLOAD_BYTES


def test_a_snapshot_with_room_keeps_every_text_whole() -> None:
    p = progress()
    p.retry_scheduled(at(0), "build", 2, 0, "e" * 32_000)
    assert p.snapshot().stages[0].error_message == "e" * 32_000
