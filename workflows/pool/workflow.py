"""WorkerPoolWorkflow (id workers-<task_id>): the workers of one task, scaled by updates.

ScaleUp and ScaleDown are Temporal Updates; the first ScaleUp starts the pool by
update-with-start. Each worker gets a task that follows it (started, ended), keeps it for
the TTL once it finished, then deletes it. The pool ends when it is empty and continues
as new, carrying its book, when its history grows long. Transitions for otto-handler go
into an outbox that one notifier task sends in batches, so a slow otto-handler never
holds up scaling.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from workflows.base.sizes import clip
    from workflows.pool import calls as pool_calls
    from workflows.pool.book import PoolBook
    from workflows.pool.models import (
        Created,
        NoticeStatus,
        PoolInput,
        PoolState,
        PoolTotals,
        PoolWorker,
        ScaleDownRequest,
        ScaleResult,
        ScaleStatus,
        ScaleUpRequest,
        WorkerNotice,
    )
    from workflows.pool.plan import (
        MAX_REASON_CHARS,
        already_processed,
        room_for,
        room_for_bytes,
        scale_down_result,
        scale_down_victims,
        scale_up_result,
    )
    from workflows.pool.specs import POOL_BYTES_BUDGET, request_bytes, worker_spec_bytes
    from workflows.pool.validation import validate_scale_down, validate_scale_up
    from workflows.workers import calls as worker_calls
    from workflows.workers.spec import WorkerInfo, WorkerPhase, WorkerSpec

ANSWER_QUERY = "answer"
POOL_CLOSING = "PoolClosing"
# Notices waiting for otto-handler, at most: the pool continues as new with them.
OUTBOX_LIMIT = 1000


def _failure(err: ActivityError) -> str:
    """What went wrong; re-raises a cancellation (ScaleDown stopped following the worker)."""
    if isinstance(err.cause, CancelledError):
        raise asyncio.CancelledError from err
    return str(err.cause or err)


@workflow.defn
class WorkerPoolWorkflow:
    @workflow.init
    def __init__(self, inp: PoolInput) -> None:
        self._task_id = inp.task_id
        self._settings = inp.settings
        state = inp.state or PoolState(run=workflow.info().run_id)
        self._book = PoolBook(inp.task_id, state)
        self._outbox: list[WorkerNotice] = list(state.outbox)
        self._sending: list[WorkerNotice] = []
        self._follows: dict[str, asyncio.Task[None]] = {}
        # Referenced so that it lives as long as the pool; it never ends on its own.
        self._notifier_task: asyncio.Task[None] | None = None
        self._closing = False
        self._updates = 0  # handled by this run

    @workflow.run
    async def run(self, inp: PoolInput) -> PoolTotals:
        for name in list(self._book.workers):  # workers carried over from the previous run
            self._follow(name)
        if self._settings.notify:
            self._notifier_task = asyncio.create_task(self._notifier())
        while True:
            await workflow.wait_condition(lambda: self._idle() or self._history_long())
            if self._idle():
                await workflow.wait_condition(lambda: not (self._outbox or self._sending))
                if self._idle():  # no ScaleUp slipped in while the last notices went out
                    return self._book.totals
                continue
            await workflow.wait_condition(workflow.all_handlers_finished)
            if not self._idle():
                state = self._book.snapshot().model_copy(
                    update={"outbox": (*self._sending, *self._outbox)}
                )
                workflow.continue_as_new(
                    PoolInput(task_id=inp.task_id, settings=inp.settings, state=state)
                )

    @workflow.query(name=ANSWER_QUERY)
    def answer(self, request_id: str) -> ScaleResult | None:
        """The answer already given to request_id, if any (the gateway's retry check)."""
        return self._book.answers.get(request_id)

    @workflow.update
    async def scale_up(self, request: ScaleUpRequest) -> ScaleResult:
        started = workflow.now()
        self._updates += 1
        request_id = request.request_id
        book = self._book
        if request_id:
            # Idempotency guard: a repeat waits for the original, then gets its answer.
            # A loop, not one wait: several repeats may wake together after a FAILED one.
            while request_id in book.in_flight:
                await workflow.wait_condition(lambda: request_id not in book.in_flight)
            if request_id in book.answers:
                return already_processed(book.answers[request_id], request_id)
            book.in_flight.add(request_id)
        try:
            answer = await self._scale_up(request, started)
            # A FAILED ScaleUp created nothing: sending it again is safe, so it is not kept.
            if request_id and answer.status is not ScaleStatus.FAILED:
                book.remember(request_id, answer)
            return answer
        finally:
            book.in_flight.discard(request_id)

    @scale_up.validator
    def _admit(self, request: ScaleUpRequest) -> None:
        validate_scale_up(request, self._settings.max_workers_per_task)
        known = (
            request.request_id in self._book.answers or request.request_id in self._book.in_flight
        )
        if self._closing and not known:
            raise ApplicationError(
                f"the worker pool of task {self._task_id} is ending; a new one starts after it",
                type=POOL_CLOSING,
            )

    @workflow.update
    async def scale_down(self, request: ScaleDownRequest) -> ScaleResult:
        started = workflow.now()
        self._updates += 1
        book = self._book
        if request.target == 0:
            self._closing = True
        # ScaleUps in flight finish first, so that their workers can be chosen too.
        await workflow.wait_condition(lambda: not book.creating.total())
        candidates = [w for w in book.workers.values() if w.name not in book.deleting]
        victims = scale_down_victims(candidates, request.target)
        if request.target == 0:
            victims += [w for w in candidates if w.finished]
        for victim in victims:
            book.deleting.add(victim.name)
            # A finished worker's task only waits out the TTL. An active one's ends by itself
            # once its worker is gone: cancelling its await would only add events and noise.
            follow = self._follows.get(victim.name)
            if victim.finished and follow is not None:
                follow.cancel()
        why = f"scaled down to {request.target}" if request.target else "worker pool ended"
        problems = await asyncio.gather(*(self._delete(v, why) for v in victims))
        deleted = [v.name for v, problem in zip(victims, problems, strict=True) if not problem]
        if not book.empty:
            self._closing = False  # a worker that could not be deleted keeps the pool open
        return scale_down_result(
            self._task_id,
            deleted,
            [p for p in problems if p],
            book.active(),
            started,
            workflow.now(),
        )

    @scale_down.validator
    def _check_scale_down(self, request: ScaleDownRequest) -> None:
        validate_scale_down(self._task_id, request.target)

    async def _scale_up(self, request: ScaleUpRequest, started: datetime) -> ScaleResult:
        book = self._book
        count, shortfall = room_for(
            request.worker_count, book.active(), self._settings.max_workers_per_task
        )
        size = request_bytes(request)
        count, too_heavy = room_for_bytes(
            count, size, worker_spec_bytes(size), book.carried_bytes(), POOL_BYTES_BUDGET
        )
        problems = [why for why in (shortfall, too_heavy) if why]
        created: list[str] = []
        if count:
            key, indices = book.reserve(request, count)
            specs = [book.spec(key, index) for index in indices]
            try:
                results = await pool_calls.create_workers(
                    specs, f"{count} workers · pool {self._task_id}"
                )
            except ActivityError as err:
                results = [Created(error=_failure(err))] * count
            for index, spec, result in zip(indices, specs, results, strict=True):
                if result.info is None:
                    book.not_created(key)
                    problems.append(result.error)
                else:
                    self._add(key, index, spec.name, result.info)
                    created.append(spec.name)
        return scale_up_result(
            self._task_id, request.worker_count, created, problems, started, workflow.now()
        )

    def _add(self, key: str, index: int, name: str, info: WorkerInfo) -> None:
        """Books a created worker and starts following it."""
        # A worker that already ended is followed like a running one: awaiting it says how.
        pending = info.phase is WorkerPhase.PENDING
        phase = WorkerPhase.PENDING if pending else WorkerPhase.RUNNING
        self._book.created(key, name, index, phase, workflow.now())
        self._notify(name, NoticeStatus.CREATED)
        if not pending:
            self._notify(name, NoticeStatus.RUNNING)
        self._follow(name)

    async def _delete(self, worker: PoolWorker, why: str) -> str:
        try:
            await worker_calls.delete_worker(self._book.worker_spec(worker))
        except ActivityError as err:
            self._book.deleting.discard(worker.name)
            if worker.name not in self._follows:
                self._follow(worker.name)
            return f"{worker.name}: {_failure(err)}"
        if not worker.finished:
            self._notify(worker.name, NoticeStatus.TERMINATED, why)
        self._book.remove(worker.name, terminated=not worker.finished)
        return ""

    def _follow(self, name: str) -> None:
        self._follows[name] = asyncio.create_task(self._lifecycle(name))

    async def _lifecycle(self, name: str) -> None:
        """Follows one worker to its end, keeps it for the TTL, then deletes it."""
        book = self._book
        try:
            spec = book.worker_spec(book.workers[name])
            if book.workers[name].phase is WorkerPhase.PENDING:
                await self._await_start(spec)
            if not book.following(name):
                return
            if not book.workers[name].finished:
                await self._await_end(spec)
            if not book.following(name):
                return
            finished_at = book.workers[name].finished_at or workflow.now()
            keep = finished_at + timedelta(seconds=self._settings.worker_ttl_seconds)
            if keep > workflow.now():
                await workflow.sleep(keep - workflow.now(), summary=f"keep {name} (TTL)")
            try:
                await worker_calls.delete_worker(spec)
            except ActivityError as err:
                workflow.logger.warning("cannot delete finished worker %s: %s", name, _failure(err))
            book.remove(name)
        finally:
            self._follows.pop(name, None)

    async def _await_start(self, spec: WorkerSpec) -> None:
        try:
            info = await pool_calls.await_worker_started(spec)
        except ActivityError as err:
            _failure(err)
            return  # awaiting its end comes next and says what happened to it
        if info.phase is WorkerPhase.RUNNING and self._book.started(spec.name):
            self._notify(spec.name, NoticeStatus.RUNNING)

    async def _await_end(self, spec: WorkerSpec) -> None:
        try:
            outcome = await worker_calls.await_worker(spec)
            succeeded, reason = outcome.succeeded, outcome.failure_text
        except ActivityError as err:
            succeeded, reason = False, _failure(err)
        if self._book.finished(spec.name, succeeded, workflow.now()):
            status = NoticeStatus.COMPLETED if succeeded else NoticeStatus.FAILED
            self._notify(spec.name, status, reason)

    def _notify(self, name: str, status: NoticeStatus, reason: str = "") -> None:
        worker = self._book.workers.get(name)
        if not self._settings.notify or worker is None:
            return
        metadata = {"worker_index": str(worker.index)}
        request_id = self._book.requests[worker.request_key].request_id
        if request_id:
            metadata["request_id"] = request_id
        self._outbox.append(
            WorkerNotice(
                worker_id=name,
                task_id=self._task_id,
                status=status,
                timestamp=workflow.now(),
                reason=clip(reason, MAX_REASON_CHARS),
                metadata=metadata,
            )
        )
        if len(self._outbox) > OUTBOX_LIMIT:
            dropped = self._outbox.pop(0)
            workflow.logger.warning(
                "otto-handler is %d notices behind; dropped %s %s",
                OUTBOX_LIMIT,
                dropped.worker_id,
                dropped.status.value,
            )

    async def _notifier(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            self._sending = self._outbox[: pool_calls.NOTIFY_BATCH]
            del self._outbox[: len(self._sending)]
            try:
                await pool_calls.notify_workers(self._sending)
            except ActivityError as err:
                workflow.logger.warning(
                    "gave up telling otto-handler about %d worker transitions: %s",
                    len(self._sending),
                    _failure(err),
                )
            self._sending = []

    def _idle(self) -> bool:
        return self._book.empty and not self._follows and workflow.all_handlers_finished()

    def _history_long(self) -> bool:
        info = workflow.info()
        limit = self._settings.history_limit
        # A run that only winds down the workers it inherited never needs another run (and
        # a small limit could otherwise be passed by re-following them alone, run after run).
        return info.is_continue_as_new_suggested() or (
            limit > 0 and self._updates > 0 and info.get_current_history_length() > limit
        )
