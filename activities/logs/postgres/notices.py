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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from activities.background import in_background
from activities.backoff import Backoff
from activities.database import Connection
from activities.database.migrations import migrate
from activities.logs.hub import LiveHub
from activities.logs.pods import PodMeta

log = logging.getLogger(__name__)
LOG_CHANNEL = "ottoscaler_logs"
# The longest pause between tries to listen again: how late health may say SERVING after
# the database came back.
RECONNECT_PAUSE_SECONDS = 5.0


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


# Called with True when the database answers again, False when it stops answering.
ReachabilityListener = Callable[[bool], Awaitable[None]]


class NoticeListener:
    """Listens on LOG_CHANNEL and tells the hub of other processes' writes. A lost
    connection is opened again; the hub's readers sweep the archive then, so nothing
    written meanwhile is missed. Whether it listens is whether the database answers:
    `reachable`, `problem` and `on_change` say so to the gateway's health."""

    def __init__(self, url: str, origin: str, hub: LiveHub) -> None:
        self._url = url
        self._origin = origin
        self._hub = hub
        self.problem = "not connected yet"
        self._listeners: list[ReachabilityListener] = []

    @property
    def reachable(self) -> bool:
        return not self.problem

    def on_change(self, listener: ReachabilityListener) -> None:
        self._listeners.append(listener)

    async def _now(self, problem: str) -> None:
        was = self.reachable
        self.problem = problem
        if self.reachable == was:
            return
        if problem:
            log.warning("the log database stopped answering: %s", problem)
        else:
            log.info("the log database answers again")
        for listener in self._listeners:
            await listener(self.reachable)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[NoticeListener]:
        async with in_background(self._listen_forever()):
            yield self

    async def _listen_forever(self) -> None:
        backoff = Backoff(0.5, RECONNECT_PAUSE_SECONDS)
        while True:
            try:
                await self._listen(backoff)
            except (OSError, asyncpg.PostgresError) as err:
                await self._now(str(err) or type(err).__name__)
            await asyncio.sleep(backoff.failed())

    async def _listen(self, backoff: Backoff) -> None:
        connection = await asyncpg.connect(self._url)
        lost = asyncio.Event()
        await migrate(connection)  # a replica that started while the database was down
        connection.add_termination_listener(lambda _: lost.set())
        try:
            await connection.add_listener(LOG_CHANNEL, self._heard)
            backoff.reset()
            self._hub.missed_notices()  # whatever was written while not listening
            await self._now("")
            await lost.wait()
            await self._now("the connection dropped")
        finally:
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
