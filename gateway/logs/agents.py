"""LogStreamingService: agents in worker pods push their own logs.

Who: an agent proves its worker's identity with the credential Ottoscaler put in that
worker's environment (OTTO_AGENT_CREDENTIAL, activities/logs/credentials.py); workers
never hold the bearer token. RegisterWorker without it is UNAUTHENTICATED, with one that
is not that worker's PERMISSION_DENIED, so a session id is only ever answered to its own
worker (ALREADY_REGISTERED when that worker registers again). An agent writes its own
worker's log only: the pod is its worker_id, and labels naming a task name its own.
Every StreamLogs entry carries the session_id its registration answered.

When: while the worker lives. A worker the runtime reports finished, or no longer lists
after it did, has a closed log: registering it, or writing to its session, is
FAILED_PRECONDITION and nothing is appended. A log archived complete stays closed unless
the runtime lists its worker as pending or running.

How many: at most max_sessions. A session that no StreamLogs call is writing for (it
never began, or its stream broke) expires after registration_ttl seconds, when the next
registration looks, so registrations that never stream cannot keep agents out; within
that time an agent whose stream broke reconnects with its session.

StreamLogs answers every entry, in order: ACK with the entry's sequence once it is
archived and live; RETRY when the agent sends faster than config.rate_limit (wait, then
resend that entry); DROP for an entry that can never be taken (unregistered worker,
unknown source, bad timestamp). A message over max_message_size is cut and marked, not
dropped. Each secret value of the worker's pipeline is masked in every message, as in the
log tail: the store is the one the runtime's labels of the worker name (never what the
agent says); while the runtime does not list a worker whose agent says it has secrets,
its entries are RETRY, so no line is archived unmasked. Entries feed the same sinks as
the log tail: archive, live subscribers and, through the archive, otto-handler. A stream
that ends normally completes its workers' logs and closes their sessions.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeAlias

from grpc import aio

from activities.logs import ArchiveBusy, LogSinks, PodLog, PodMeta
from activities.logs.credentials import CREDENTIAL_ENV, proves
from activities.logs.lines import MAX_LINE_BYTES, STDERR, STDOUT, LogLine, bounded
from activities.logs.masking import Masker
from activities.logs.store import ArchiveUnavailable
from activities.secrets.store import SecretsNotFound, SecretStore
from gateway.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from workflows.pool.plan import ACTIVE
from workflows.workers.spec import Labels, WorkerPhase

Context: TypeAlias = aio.ServicerContext[Any, Any]
Registration = pb.RegistrationResponse.Status
Answer = pb.LogResponse.Status
# A worker's phase as the runtime reports it now; None while it lists no such worker.
PhaseOf: TypeAlias = Callable[[str], WorkerPhase | None]
# A worker's labels as the runtime reports them now; None while it lists no such worker.
LabelsOf: TypeAlias = Callable[[str], Mapping[str, str] | None]
# A Kubernetes object name's limit: worker names and task ids are shorter, and what a
# refusal repeats of them stays small.
MAX_ID_CHARS = 253
WORKER_ENDED = "the worker ended"
NOTHING_TO_MASK = Masker()


@dataclass
class _Session:
    session_id: str
    log: PodLog
    rate: int
    tokens: float = 0.0
    refilled: float = field(default_factory=time.monotonic)
    # StreamLogs calls writing for this worker now, and since when none has been.
    streams: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    # The runtime has listed the worker pending or running: once it lists it no more, it ended.
    seen_alive: bool = False
    # Masks the worker's secret values; None until the runtime's labels of it are known.
    mask: Masker | None = None
    # The agent's own labels name a secret store: nothing is archived before the mask is known.
    has_secrets: bool = False

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


def _closed(worker_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"worker_id: worker {worker_id!r} has ended: its log is closed")


class AgentLogService(pb_grpc.LogStreamingServiceServicer):
    def __init__(
        self,
        sinks: LogSinks,
        phase_of: PhaseOf,
        labels_of: LabelsOf,
        secrets: SecretStore,
        *,
        signing_key: bytes,
        max_sessions: int,
        registration_ttl: float,
        rate_limit: int,
    ) -> None:
        self._sinks = sinks
        self._phase_of = phase_of
        self._labels_of = labels_of
        self._secrets = secrets
        self._key = signing_key
        self._max_sessions = max_sessions
        self._ttl = registration_ttl
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
            value = getattr(request, name)
            if not value:
                return self._answer(Registration.INVALID_REQUEST, f"{name}: required")
            if len(value) > MAX_ID_CHARS:
                return self._answer(
                    Registration.INVALID_REQUEST, f"{name}: at most {MAX_ID_CHARS} characters"
                )
        self._authenticate(request)
        meta = self._own_pod(request)
        await self._expire()
        worker_id = request.worker_id
        known = self._sessions.get(worker_id)
        if known is not None:
            if self._ended(worker_id, known):
                await self._close(worker_id, note=WORKER_ENDED)
                raise _closed(worker_id)
            known.idle_since = time.monotonic()  # its agent is back: the TTL starts again
            return self._answer(
                Registration.ALREADY_REGISTERED, "already registered", known.session_id
            )
        phase = self._phase_of(worker_id)
        if phase not in (None, *ACTIVE) or (phase is None and await self._sinks.completed(meta)):
            raise _closed(worker_id)
        if len(self._sessions) >= self._max_sessions:
            return self._answer(
                Registration.SERVER_FULL,
                f"{self._max_sessions} agents are registered already; a registration that "
                f"no stream writes for expires after {self._ttl:g}s",
            )
        try:
            log = await self._sinks.open(meta)
        except ArchiveBusy as err:
            return self._answer(Registration.SERVER_FULL, str(err))
        session = _Session(uuid.uuid4().hex, log, self._config.rate_limit)
        session.tokens = float(session.rate)
        session.seen_alive = phase is not None
        session.has_secrets = Labels.SECRETS in meta.labels
        self._sessions[worker_id] = session
        return self._answer(Registration.SUCCESS, "registered", session.session_id)

    def _authenticate(self, request: pb.WorkerRegistration) -> None:
        """The credential must be the one made for this worker of this task."""
        if not request.credential:
            raise Unauthenticated(f"credential: required: the worker's {CREDENTIAL_ENV}")
        if not proves(self._key, request.task_id, request.worker_id, request.credential):
            raise PermissionDenied(
                f"credential: not the credential of worker_id {request.worker_id!r} "
                f"of task_id {request.task_id!r}"
            )

    @staticmethod
    def _own_pod(request: pb.WorkerRegistration) -> PodMeta:
        """The worker's own log: the credential proves its name and task, nothing else."""
        if request.metadata.pod_name not in ("", request.worker_id):
            raise PermissionDenied(
                f"metadata.pod_name: not worker_id {request.worker_id!r}: an agent writes "
                "its own worker's log only"
            )
        labels = dict(request.metadata.labels)
        for key in (Labels.TASK_ID, Labels.PIPELINE_ID):
            if labels.get(key, request.task_id) != request.task_id:
                raise PermissionDenied(
                    f"metadata.labels[{key}]: not the worker's task_id {request.task_id!r}"
                )
        return PodMeta(
            pod=request.worker_id,
            task_id=request.task_id,
            pipeline_id=labels.get(Labels.PIPELINE_ID, ""),
            stage_id=labels.get(Labels.STAGE_ID, ""),
            labels=labels,
        )

    def _ended(self, worker_id: str, session: _Session) -> bool:
        phase = self._phase_of(worker_id)
        if phase in ACTIVE:
            session.seen_alive = True
            return False
        return phase is not None or session.seen_alive

    async def _expire(self) -> None:
        """Closes the sessions no stream has written for within the TTL."""
        now = time.monotonic()
        for worker_id, session in list(self._sessions.items()):
            if session.streams == 0 and now - session.idle_since >= self._ttl:
                ended = self._ended(worker_id, session)
                await self._close(worker_id, note=WORKER_ENDED if ended else None)

    async def _close(self, worker_id: str, *, note: str | None) -> None:
        """Ends the worker's session; note None leaves its log open for a new session."""
        session = self._sessions.pop(worker_id)
        if note is None:
            await session.log.close()
        else:
            await session.log.complete(note)

    async def StreamLogs(
        self, request_iterator: AsyncIterator[pb.LogEntry], context: Context
    ) -> AsyncIterator[pb.LogResponse]:
        writing: dict[str, _Session] = {}
        done = False
        try:
            async for entry in request_iterator:
                yield await self._take(entry, writing)
            done = True  # the agent said it is done
        finally:
            for worker_id, session in writing.items():
                session.streams -= 1
                session.idle_since = time.monotonic()
                if self._sessions.get(worker_id) is session and done:
                    await self._close(worker_id, note="")

    async def _take(self, entry: pb.LogEntry, writing: dict[str, _Session]) -> pb.LogResponse:
        session = self._sessions.get(entry.worker_id)
        if session is None:
            return pb.LogResponse(
                status=Answer.DROP,
                message=f"worker_id: {entry.worker_id!r} is not registered (RegisterWorker first)",
            )
        if not entry.session_id:
            raise Unauthenticated("session_id: required: the session_id RegisterWorker answered")
        if not hmac.compare_digest(entry.session_id.encode(), session.session_id.encode()):
            raise PermissionDenied(f"session_id: not the session of worker_id {entry.worker_id!r}")
        if self._ended(entry.worker_id, session):
            await self._close(entry.worker_id, note=WORKER_ENDED)
            raise _closed(entry.worker_id)
        if entry.worker_id not in writing:
            writing[entry.worker_id] = session
            session.streams += 1
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
        mask = await self._masker(entry.worker_id, session)
        if mask is None:
            return pb.LogResponse(
                status=Answer.RETRY,
                message="worker_id: the runtime does not list the worker yet: resend this entry",
            )
        sequence = session.log.last_sequence + 1
        line = LogLine(
            timestamp=moment,
            source=entry.source or STDOUT,
            message=bounded(mask(entry.message)),  # masked first: a cut never halves a value
            level=entry.level,
            sequence=sequence,
        )
        try:
            await session.log.write([line])
        except ArchiveUnavailable as err:
            return pb.LogResponse(status=Answer.RETRY, message=f"{err}: resend this entry")
        return pb.LogResponse(status=Answer.ACK, sequence=sequence)

    async def _masker(self, worker_id: str, session: _Session) -> Masker | None:
        """The mask of the worker's secret values, read once from the store its runtime
        labels name; None while that is not known and its agent says it has secrets."""
        if session.mask is not None:
            return session.mask
        labels = self._labels_of(worker_id)
        if labels is None:
            return None if session.has_secrets else NOTHING_TO_MASK
        store = labels.get(Labels.SECRETS)
        try:
            values = await self._secrets.read(store) if store else {}
        except SecretsNotFound:  # the run ended, and its workers with it
            await self._close(worker_id, note=WORKER_ENDED)
            raise _closed(worker_id) from None
        session.mask = Masker(values.values())
        return session.mask

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.log.close()
        self._sessions.clear()
