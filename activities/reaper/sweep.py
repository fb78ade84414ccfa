"""The reaper's sweep: list managed workers, ask Temporal about their owners, delete orphans.

The decision is workflows.reaper.orphans'; this is its I/O shell, the same for every runtime.
Only the owners of workers past the grace period are described, once each. A workflow
Temporal does not know is closed for good; any other error fails the sweep (retried, then
left to the next one) rather than delete a worker whose owner may still be running.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.runtimes.boundary import runtime_boundary
from activities.runtimes.protocol import WorkerRuntime
from workflows.pipeline.secrets import SECRET_STORE_MEMO
from workflows.reaper.orphans import orphan_secrets, orphans, owners_to_check
from workflows.reaper.workflow import REAP_ORPHANS, ReapInput, ReapResult
from workflows.workers.spec import MANAGED_BY, Labels


class ReaperActivities:
    def __init__(self, runtime: WorkerRuntime, client: Client) -> None:
        self.runtime = runtime
        self.client = client

    @activity.defn(name=REAP_ORPHANS)
    async def reap_orphans(self, inp: ReapInput) -> ReapResult:
        workers = await runtime_boundary(self.runtime.list({Labels.MANAGED_BY: MANAGED_BY}))
        now, grace = datetime.now(UTC), timedelta(seconds=inp.grace_seconds)
        open_runs: dict[str, str] = {}
        for workflow_id in owners_to_check(workers, now, grace):
            run_id = await self._open_run(workflow_id)
            if run_id is not None:
                open_runs[workflow_id] = run_id
        doomed = orphans(workers, open_runs, now, grace)
        for name in doomed:
            activity.logger.info("deleting orphaned worker %s", name)
            await runtime_boundary(self.runtime.delete(name))
        secrets = await self._reap_secrets(now, grace)
        return ReapResult(workers=len(workers), deleted=tuple(doomed), secrets_deleted=secrets)

    async def _reap_secrets(self, now: datetime, grace: timedelta) -> tuple[str, ...]:
        """Secret stores that no open run names: a crash (or a start that attached) left them."""
        store = self.runtime.secrets
        stores = await runtime_boundary(store.list())
        open_stores: dict[str, str] = {}
        for workflow_id in owners_to_check(stores, now, grace):
            description = await self._open(workflow_id)
            if description is not None:
                open_stores[workflow_id] = await description.memo_value(SECRET_STORE_MEMO, "")
        doomed = orphan_secrets(stores, open_stores, now, grace)
        for name in doomed:
            activity.logger.info("deleting orphaned secrets %s", name)
            await runtime_boundary(store.delete(name))
        return tuple(doomed)

    async def _open_run(self, workflow_id: str) -> str | None:
        """The run id of the workflow's open run; None if it is closed or unknown."""
        description = await self._open(workflow_id)
        return None if description is None else description.run_id

    async def _open(self, workflow_id: str) -> WorkflowExecutionDescription | None:
        """The workflow's open run; None if it is closed or unknown."""
        try:
            description = await self.client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
        if description.status is WorkflowExecutionStatus.RUNNING:
            return description
        return None
