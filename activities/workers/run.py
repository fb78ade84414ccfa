"""run_worker: one activity per shard attempt, from creating its worker to deleting it.

It first takes room for the worker under MAX_WORKERS, waiting for it if need be
(room.py), and gives it back once the worker is deleted or the activity ends otherwise.
It creates the worker (idempotent: the name is deterministic, so a retry finds the
worker it made), follows it to its end while its output is archived (tail.py), reads
its outputs (outputs.py), and deletes it once its last lines are archived. Its heartbeat
carries the log cursor, so a retry on another process resumes the log where the last
heartbeat left it: no line lost or repeated, and one activity per attempt instead of
create, await, tail and delete.

Nothing is created for a spec the gateway did not sign or that passes this process's
own MAX_WORKERS_PER_TASK (activities/admission.py).

A transient runtime error fails the activity retryably and leaves the worker for the
retry to resume; a permanent one fails the shard (the workflow deletes the worker).
Cancelled, it stops following and deletes the worker too: the workflow, which does not
wait for a cancel to reach the activity with its next heartbeat, deletes it at once,
and a create that raced that delete is undone here.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.admission import Admission
from activities.capacity import WorkerCapacity
from activities.logs import LogSinks, pod_meta
from activities.logs.masking import Masker
from activities.logs.outage import until_reachable
from activities.logs.store import ArchiveUnavailable
from activities.runtimes.boundary import runtime_boundary
from activities.runtimes.protocol import WorkerRuntime
from activities.secrets.store import SecretsNotFound
from activities.workers.outputs import with_outputs
from activities.workers.room import RoomWaits
from activities.workers.tail import LogTail
from workflows.workers.calls import RUN_WORKER
from workflows.workers.spec import WorkerOutcome, WorkerSpec


class WorkerRunActivities:
    def __init__(
        self,
        runtime: WorkerRuntime,
        sinks: LogSinks,
        admission: Admission,
        capacity: WorkerCapacity,
    ) -> None:
        self.runtime = runtime
        self.sinks = sinks
        self.admission = admission
        self.room = RoomWaits(capacity)

    @activity.defn(name=RUN_WORKER)
    async def run_worker(self, spec: WorkerSpec) -> WorkerOutcome:
        # Checked first: a spec this process refuses never waits for, nor takes, room.
        admitted = self.admission.admit(spec, activity.info().workflow_id or "")
        room = await self.room.room_for(spec)
        try:
            return await self._run(admitted)
        finally:
            await room.release()

    async def _run(self, spec: WorkerSpec) -> WorkerOutcome:
        mask = await self._masker(spec)
        await runtime_boundary(self.runtime.create(spec))
        # ArchiveBusy (a stale attempt of this activity still holds the log) is retried;
        # an archive that cannot be reached is waited for.
        opened = await until_reachable(lambda: self.sinks.open(pod_meta(spec)), spec.name)
        async with opened as pod_log:
            tail = LogTail(self.runtime, spec, pod_log, mask)
            following = asyncio.create_task(tail.follow())
            beating = asyncio.create_task(tail.heartbeats())
            try:
                outcome = await runtime_boundary(self.runtime.wait(spec))
                note = await self._drained(following, started=outcome.started_at is not None)
            except asyncio.CancelledError:
                # The tail archives the lines it holds first: the log completes after them,
                # and the cursor heartbeated on a shutdown is past them.
                with suppress(Exception):  # raised again by _stopped below
                    await _stopped(following, beating)
                if activity.is_worker_shutdown():
                    activity.heartbeat(tail.cursor)  # the retry resumes exactly here
                    raise
                with suppress(ArchiveUnavailable):  # never holds up the cancel
                    await pod_log.complete("tail cancelled")
                # The workflow deletes the worker at once; this covers a create that
                # raced that delete and came second.
                await runtime_boundary(self.runtime.delete(spec.name))
                raise
            except Exception as err:
                activity.heartbeat(tail.cursor)  # a retry resumes the log here
                if isinstance(err, ApplicationError) and err.non_retryable:
                    with suppress(ArchiveUnavailable):
                        await pod_log.complete(mask(f"worker lost: {err}"))
                raise
            finally:
                await _stopped(following, beating)
            await until_reachable(lambda: pod_log.complete(note), spec.name)
        outcome = await with_outputs(self.runtime, spec, outcome, mask)
        await runtime_boundary(self.runtime.delete(spec.name))
        activity.logger.info("worker %s ended: %s", spec.name, outcome.failure_text or "succeeded")
        # What the runtime said of the end goes into history and progress: masked too.
        return outcome.model_copy(update={"message": mask(outcome.message)})

    async def _masker(self, spec: WorkerSpec) -> Masker:
        """Masks every secret value of the worker's pipeline (its store holds them all)."""
        if spec.secrets is None:
            return Masker()
        try:
            values = await runtime_boundary(self.runtime.secrets.read(spec.secrets.store))
        except SecretsNotFound as err:  # the run ended: no worker may start with them
            raise ApplicationError(
                f"secrets: {err}", type="PermanentRuntimeError", non_retryable=True
            ) from err
        return Masker(values.values())

    @staticmethod
    async def _drained(following: asyncio.Task[str], started: bool) -> str:
        """The tail's note once it has archived the ended worker's last lines; a worker
        that never started has no output to wait for."""
        if started:
            return await following
        following.cancel()
        return "the worker never started"


async def _stopped(*tasks: asyncio.Task[object]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
