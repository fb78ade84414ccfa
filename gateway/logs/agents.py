"""LogStreamingService: agents in worker pods push their own logs.

RegisterWorker opens a session for a worker (its id, task and labels) and answers with
the LoggingConfig to follow. StreamLogs answers every entry, in order: ACK with the
entry's sequence once it is archived and live; RETRY when the agent sends faster than
config.rate_limit (wait, then resend that entry); DROP for an entry that can never be
taken (unregistered worker, unknown source, bad timestamp). A message over
max_message_size is cut and marked, not dropped. Entries feed the same sinks as the log
tail: archive, live subscribers and, through the archive, otto-handler.

A stream that ends normally completes its workers' logs and closes their sessions; a
broken one leaves them open, so the agent reconnects with the same session
(RegisterWorker answers ALREADY_REGISTERED with it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from grpc import aio

from activities.logs import ArchiveBusy, LogSinks, PodLog, PodMeta
from activities.logs.lines import MAX_LINE_BYTES, STDERR, STDOUT, LogLine, bounded
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.workers.spec import Labels

Context: TypeAlias = aio.ServicerContext[Any, Any]
Registration = pb.RegistrationResponse.Status
Answer = pb.LogResponse.Status
RATE_LIMIT = 1000


@dataclass
class _Session:
    session_id: str
    log: PodLog
    rate: int
    tokens: float = 0.0
    refilled: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        """A token bucket: `rate` entries per second, bursts of up to one second's worth."""
        now = time.monotonic()
        self.tokens = min(float(self.rate), self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _timestamp(text: str) -> datetime | None:
    if not text:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class AgentLogService(pb_grpc.LogStreamingServiceServicer):
    def __init__(self, sinks: LogSinks, max_sessions: int, rate_limit: int = RATE_LIMIT) -> None:
        self._sinks = sinks
        self._max_sessions = max_sessions
        self._config = pb.LoggingConfig(
            rate_limit=rate_limit,
            buffer_size=100,
            max_message_size=MAX_LINE_BYTES,
            include_metadata=False,  # per-entry metadata is not kept
        )
        self._sessions: dict[str, _Session] = {}

    def _answer(
        self, status: pb.RegistrationResponse.Status.ValueType, message: str, session: str = ""
    ) -> pb.RegistrationResponse:
        config = self._config if session else None
        return pb.RegistrationResponse(
            status=status, message=message, session_id=session, config=config
        )

    async def RegisterWorker(
        self, request: pb.WorkerRegistration, context: Context
    ) -> pb.RegistrationResponse:
        for name in ("worker_id", "task_id"):
            if not getattr(request, name):
                return self._answer(Registration.INVALID_REQUEST, f"{name}: required")
        known = self._sessions.get(request.worker_id)
        if known is not None:
            return self._answer(
                Registration.ALREADY_REGISTERED, "already registered", known.session_id
            )
        if len(self._sessions) >= self._max_sessions:
            return self._answer(
                Registration.SERVER_FULL, f"{self._max_sessions} agents are streaming already"
            )
        labels = dict(request.metadata.labels)
        meta = PodMeta(
            pod=request.metadata.pod_name or request.worker_id,
            task_id=request.task_id,
            pipeline_id=labels.get(Labels.PIPELINE_ID, ""),
            stage_id=labels.get(Labels.STAGE_ID, ""),
            labels=labels,
        )
        try:
            log = await self._sinks.open(meta)
        except ArchiveBusy as err:
            return self._answer(Registration.SERVER_FULL, str(err))
        session = _Session(uuid.uuid4().hex, log, self._config.rate_limit)
        session.tokens = float(session.rate)
        self._sessions[request.worker_id] = session
        return self._answer(Registration.SUCCESS, "registered", session.session_id)

    async def StreamLogs(
        self, request_iterator: AsyncIterator[pb.LogEntry], context: Context
    ) -> AsyncIterator[pb.LogResponse]:
        streamed: set[str] = set()
        async for entry in request_iterator:
            yield await self._take(entry, streamed)
        for worker_id in streamed:  # the agent said it is done
            session = self._sessions.pop(worker_id, None)
            if session is not None:
                await session.log.complete()

    async def _take(self, entry: pb.LogEntry, streamed: set[str]) -> pb.LogResponse:
        session = self._sessions.get(entry.worker_id)
        if session is None:
            return pb.LogResponse(
                status=Answer.DROP,
                message=f"worker_id: {entry.worker_id!r} is not registered (RegisterWorker first)",
            )
        if entry.source not in ("", STDOUT, STDERR):
            return pb.LogResponse(
                status=Answer.DROP, message=f"source: {entry.source!r} is not stdout or stderr"
            )
        moment = _timestamp(entry.timestamp)
        if moment is None:
            return pb.LogResponse(
                status=Answer.DROP, message=f"timestamp: {entry.timestamp!r} is not RFC 3339"
            )
        if not session.take():
            return pb.LogResponse(
                status=Answer.RETRY,
                message=f"over {session.rate} entries/s: resend this entry in a moment",
            )
        streamed.add(entry.worker_id)
        sequence = session.log.last_sequence + 1
        await session.log.write(
            [
                LogLine(
                    timestamp=moment,
                    source=entry.source or STDOUT,
                    message=bounded(entry.message),
                    level=entry.level,
                    sequence=sequence,
                )
            ]
        )
        return pb.LogResponse(status=Answer.ACK, sequence=sequence)

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.log.close()
        self._sessions.clear()
