"""NotifyWorkerStatus with tracing on: one client span per call, the child of the activity
that sends it, whose context otto-handler receives as W3C `traceparent` metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from activities.pools.notify import WorkerNotifier
from gateway.pools.wire import notice_to_wire
from tests.logs.otto_handler import FakeOttoHandler, serving
from tests.tracing import in_memory_tracer
from workflows.pool.models import NoticeStatus, WorkerNotice

RPC = "ottoscaler.v1.OttoHandlerLogService/NotifyWorkerStatus"


async def test_each_notice_is_a_span_under_the_activity_and_reaches_otto_handler() -> None:
    exported, tracer = in_memory_tracer()
    handler = FakeOttoHandler()
    now = datetime.now(UTC)
    notices = [
        WorkerNotice(worker_id="w1", task_id="t", status=status, timestamp=now)
        for status in (NoticeStatus.CREATED, NoticeStatus.RUNNING)
    ]
    async with serving(handler) as address:
        notifier = WorkerNotifier(address, notice_to_wire, tracer)
        with tracer.start_as_current_span("RunActivity:notify_workers") as activity_span:
            await ActivityEnvironment().run(notifier.notify_workers, notices)

    calls = [s for s in exported.get_finished_spans() if s.name == RPC]
    assert len(calls) == 2
    parent = activity_span.get_span_context()
    assert {s.parent.span_id if s.parent else None for s in calls} == {parent.span_id}
    sent = [f"{parent.trace_id:032x}-{s.context.span_id:016x}" for s in calls if s.context]
    received = [(rpc, "-".join(t.split("-")[1:3])) for rpc, t in handler.traceparents]
    assert received == [("NotifyWorkerStatus", t) for t in sent]


async def test_no_tracer_no_traceparent() -> None:
    handler = FakeOttoHandler()
    notice = WorkerNotice(
        worker_id="w1", task_id="t", status=NoticeStatus.CREATED, timestamp=datetime.now(UTC)
    )
    async with serving(handler) as address:
        await ActivityEnvironment().run(
            WorkerNotifier(address, notice_to_wire).notify_workers, [notice]
        )
    assert handler.traceparents == [("NotifyWorkerStatus", "")]
