"""Room under MAX_WORKERS for a pipeline worker, before run_worker creates it.

Most workers find room at once. One that does not waits here, inside its activity: no
Temporal action but its usual heartbeats (they bring a cancel and show it alive), no
timer polling, nothing written to the history. The workflow learns of the wait from a
signal this process sends it: one when workers of a stage attempt have waited
TELL_AFTER_SECONDS, one more once none of them waits any more; a shorter wait costs
nothing. A worker that finds no room within ROOM_WAIT fails its shard with NoRoom.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.capacity import Reservation, RoomAborted, WorkerCapacity
from activities.runtimes.boundary import heartbeating
from workflows.workers.calls import ROOM_WAIT
from workflows.workers.room import ROOM_SIGNAL, RoomReport
from workflows.workers.spec import Labels, WorkerSpec

log = logging.getLogger(__name__)

TELL_AFTER_SECONDS = 1.0
# (workflow id, run id, stage id, attempt): the stage attempt a worker belongs to.
_StageKey = tuple[str, str, str, int]


@dataclass
class _StageWait:
    """The workers of one stage attempt that wait in this process, and those reported."""

    waiting: set[str] = field(default_factory=set)
    told: set[str] = field(default_factory=set)
    # Reports of one stage attempt leave in order.
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)


class RoomWaits:
    def __init__(self, capacity: WorkerCapacity) -> None:
        self.capacity = capacity
        self._stages: dict[_StageKey, _StageWait] = {}

    async def room_for(self, spec: WorkerSpec) -> Reservation:
        """Room for spec's worker, from the running activity; waits if need be."""
        granted = asyncio.ensure_future(self.capacity.wait(spec.name))
        try:
            await self._waited(spec, granted)
            return granted.result()
        except RoomAborted as err:
            raise ApplicationError(str(err), type="RoomAborted", non_retryable=True) from err
        except TimeoutError:
            raise ApplicationError(
                f"no room within {ROOM_WAIT} under MAX_WORKERS={self.capacity.limit}",
                type="NoRoom",
                non_retryable=True,
            ) from None
        except BaseException:
            granted.cancel()
            if granted.done() and not granted.cancelled() and granted.exception() is None:
                await granted.result().release()  # granted just as this activity was cancelled
            raise

    async def _waited(self, spec: WorkerSpec, granted: asyncio.Future[Reservation]) -> None:
        done, _ = await asyncio.wait({granted}, timeout=TELL_AFTER_SECONDS)
        if done:
            return
        async with asyncio.timeout(ROOM_WAIT.total_seconds()), self._reported(spec):
            await heartbeating(granted)

    @asynccontextmanager
    async def _reported(self, spec: WorkerSpec) -> AsyncIterator[None]:
        """Tells the workflow when the first worker of its stage attempt starts waiting here,
        and when the last one stops."""
        info = activity.info()
        stage_id = spec.labels.get(Labels.STAGE_ID, "")
        key = (info.workflow_id or "", info.workflow_run_id or "", stage_id, spec.attempt)
        stage = self._stages.setdefault(key, _StageWait())
        stage.waiting.add(spec.name)
        try:
            if not stage.told:
                stage.told = set(stage.waiting)
                await self._tell(key, stage, waiting=stage.told)
            yield
        finally:
            stage.waiting.discard(spec.name)
            if not stage.waiting:
                done, stage.told = stage.told, set()
                if done:
                    await self._tell(key, stage, done_waiting=done)
                if not stage.waiting and self._stages.get(key) is stage:
                    del self._stages[key]

    async def _tell(
        self,
        key: _StageKey,
        stage: _StageWait,
        *,
        waiting: Collection[str] = (),
        done_waiting: Collection[str] = (),
    ) -> None:
        workflow_id, run_id, stage_id, attempt = key
        report = RoomReport(
            stage_id=stage_id,
            attempt=attempt,
            max_workers=self.capacity.limit,
            waiting=tuple(sorted(waiting)),
            done_waiting=tuple(sorted(done_waiting)),
        )
        async with stage.sending:
            try:
                handle = activity.client().get_workflow_handle(workflow_id, run_id=run_id)
                await handle.signal(ROOM_SIGNAL, report)
            except RPCError as err:  # the workflow ended meanwhile: nobody to tell
                log.info("room report for %s not delivered: %s", workflow_id, err)
