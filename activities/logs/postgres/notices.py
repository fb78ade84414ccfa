"""What replicas tell each other about logs: "this pod has new lines (or ended)".

Every batch a writer commits sends a NOTIFY on LOG_CHANNEL naming the pod; every process
LISTENs (NoticeListener) and tells its live hub, whose readers and forwarder then read
the new lines from the archive. So a replica follows a pod that another one tails
without polling the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import asyncpg

from activities.backoff import Backoff
from activities.database import Connection
from activities.logs.hub import LiveHub
from activities.logs.pods import PodMeta

log = logging.getLogger(__name__)
LOG_CHANNEL = "ottoscaler_logs"


def notice_payload(origin: str, meta: PodMeta) -> str:
    # Ids are bounded (256 characters each at submit): far below NOTIFY's 8,000 bytes.
    return json.dumps(
        {
            "origin": origin,
            "task_id": meta.task_id,
            "pod": meta.pod,
            "pipeline_id": meta.pipeline_id,
            "stage_id": meta.stage_id,
            "complete": meta.complete,
        }
    )


def notice_meta(payload: str) -> tuple[str, PodMeta]:
    data = json.loads(payload)
    meta = PodMeta(
        pod=data["pod"],
        task_id=data["task_id"],
        pipeline_id=data["pipeline_id"],
        stage_id=data["stage_id"],
        complete=data["complete"],
    )
    return data["origin"], meta


class NoticeListener:
    """Listens on LOG_CHANNEL and tells the hub of other processes' writes. A lost
    connection is opened again; the hub's readers sweep the archive then, so nothing
    written meanwhile is missed."""

    def __init__(self, url: str, origin: str, hub: LiveHub) -> None:
        self._url = url
        self._origin = origin
        self._hub = hub
        self.listening = asyncio.Event()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[NoticeListener]:
        task = asyncio.create_task(self._listen_forever())
        try:
            yield self
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _listen_forever(self) -> None:
        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                await self._listen(backoff)
            except (OSError, asyncpg.PostgresError) as err:
                self.listening.clear()
                log.warning("log notices: %s; listening again shortly", err)
            await asyncio.sleep(backoff.failed())

    async def _listen(self, backoff: Backoff) -> None:
        connection = await asyncpg.connect(self._url)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        try:
            await connection.add_listener(LOG_CHANNEL, self._heard)
            self.listening.set()
            backoff.reset()
            self._hub.missed_notices()  # whatever was written while not listening
            await lost.wait()
        finally:
            self.listening.clear()
            await connection.close()

    def _heard(
        self,
        _connection: Connection,
        _pid: int,
        _channel: str,
        payload: object,
    ) -> None:
        origin, meta = notice_meta(str(payload))
        if origin != self._origin:  # this process's own writes reached its hub already
            self._hub.written_elsewhere(meta)
