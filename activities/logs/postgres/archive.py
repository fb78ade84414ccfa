"""PostgresArchive: the LogArchive every replica shares.

A pod is one row of log_pods, its lines rows of log_lines keyed by (pod, sequence), so a
line written twice (a retried tail, a replica taking over) is kept once. A batch of lines
is one INSERT from arrays and one NOTIFY, in one transaction: a replica that hears of it
reads lines that are there. One writer and one forwarder hold a pod at a time through
advisory locks (locks.py), which a dead replica's connection releases by itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from activities.database import Connection
from activities.logs.lines import LogLine
from activities.logs.pod_files import TRUNCATED
from activities.logs.pods import LogSelector, PodMeta
from activities.logs.postgres.locks import AdvisoryLocks, Hold, lock_key
from activities.logs.postgres.notices import LOG_CHANNEL, notice_payload
from activities.logs.postgres.reaching import reaching
from activities.logs.store import ArchiveBusy, HoldLost

# Lines one read returns at most: a reader's batch, as the file archive's 1 MB is.
READ_BATCH = 5_000

_POD_COLUMNS = "id, task_id, pod, pipeline_id, stage_id, labels, created_at, complete, lines, note"
# The next lines of a pod, with the pod's last sequence (`lines`; one row with no line when
# there are none). A pod's sequences run from 1 without gaps, so the next READ_BATCH lines
# are a range of sequences (`upto`): bounded so, a read touches those rows only, whichever
# plan PostgreSQL picks. Unbounded, a planner that expects a pod to hold few lines (no
# statistics yet, or many small pods) scans and sorts every line after `after` on each
# read: reading a pod back took time in the square of its length.
_READ = """
    SELECT p.lines, l.seq, l.ts, l.src, l.lvl, l.msg FROM log_pods p
    LEFT JOIN LATERAL (
        SELECT seq, ts, src, lvl, msg FROM log_lines
        WHERE pod_id = p.id AND seq > $3 {upto}
        ORDER BY seq LIMIT $4
    ) l ON true
    WHERE p.task_id = $1 AND p.pod = $2
    ORDER BY l.seq
"""
# A batch of lines, the pod's counts and the notice, in one statement: one round trip, one
# transaction. Lines past the writer's last sequence are new unless another writer wrote
# them too, so they go in plainly (ON CONFLICT would double the insert's work), and again
# with `duplicates` set to ON CONFLICT DO NOTHING in that rare case.
_APPEND = """
    WITH kept AS (
        INSERT INTO log_lines (pod_id, seq, ts, src, lvl, msg)
        SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[],
                                 $6::bytea[])
        {duplicates}
    ), counted AS (
        UPDATE log_pods SET lines = greatest(lines, $7), bytes = bytes + $8, written_at = now()
        WHERE id = $1
    )
    SELECT pg_notify($9, $10)
"""


def _meta(row: asyncpg.Record) -> PodMeta:
    return PodMeta(
        pod=row["pod"],
        task_id=row["task_id"],
        pipeline_id=row["pipeline_id"],
        stage_id=row["stage_id"],
        labels=json.loads(row["labels"]),
        created_at=row["created_at"],
        complete=row["complete"],
        lines=row["lines"],
        note=row["note"],
    )


def _line(row: asyncpg.Record) -> LogLine:
    return LogLine(
        timestamp=row["ts"],
        source=row["src"],
        message=bytes(row["msg"]).decode(),
        level=row["lvl"],
        sequence=row["seq"],
    )


class PostgresPodWriter:
    def __init__(
        self,
        archive: PostgresArchive,
        meta: PodMeta,
        pod_id: int,
        last_sequence: int,
        size: int,
        truncated: bool,
        key: int,
    ) -> None:
        self._archive = archive
        self._meta = meta
        self._pod_id = pod_id
        self._key = key
        self.last_sequence = last_sequence
        self.size = size
        self.truncated = truncated

    @reaching
    async def append(self, lines: Sequence[LogLine]) -> Sequence[LogLine]:
        fresh = [line for line in lines if line.sequence > self.last_sequence]
        if not fresh:
            return fresh
        messages = [line.message.encode() for line in fresh]
        added = sum(len(m) + 1 for m in messages)
        arguments = (
            self._pod_id,
            [line.sequence for line in fresh],
            [line.timestamp for line in fresh],
            [line.source for line in fresh],
            [line.level for line in fresh],
            messages,
            fresh[-1].sequence,
            added,
            LOG_CHANNEL,
            notice_payload(self._archive.origin, self._meta),
        )
        try:
            await self._archive.pool.execute(_APPEND.format(duplicates=""), *arguments)
        except asyncpg.UniqueViolationError:
            # Another writer wrote some of these too (its lock was lost with its connection).
            await self._archive.pool.execute(
                _APPEND.format(duplicates="ON CONFLICT DO NOTHING"), *arguments
            )
        self.last_sequence = fresh[-1].sequence
        self.size += added
        return fresh

    @reaching
    async def close(self, *, sync: bool = False) -> None:
        # Every append is committed: there is nothing left to sync.
        await self._archive.locks.release(self._key)


class PostgresPodReader:
    """Reads a pod's lines in sequence order; each call returns what was added since."""

    def __init__(self, archive: PostgresArchive, meta: PodMeta) -> None:
        self._archive = archive
        self._meta = meta
        self._position = 0

    @reaching
    async def read(self, after: int) -> list[LogLine]:
        after = max(after, self._position)
        arguments = (self._meta.task_id, self._meta.pod, after, READ_BATCH)
        rows = await self._archive.pool.fetch(_READ.format(upto="AND seq <= $3 + $4"), *arguments)
        if rows and rows[0]["seq"] is None and rows[0]["lines"] > after:
            # Sequences skip (they should not): the next lines, wherever they start.
            rows = await self._archive.pool.fetch(_READ.format(upto=""), *arguments)
        lines = [_line(row) for row in rows if row["seq"] is not None]
        if lines:
            self._position = lines[-1].sequence
        return lines


class PostgresForwardMark:
    def __init__(self, archive: PostgresArchive, meta: PodMeta, position: int, key: int) -> None:
        self._archive = archive
        self._meta = meta
        self._key = key
        self.position = position

    @reaching
    async def commit(self, sequence: int) -> None:
        if sequence > self.position:
            if not await self._archive.locks.holds(self._key):
                raise HoldLost(f"{self._meta.pod}: another replica forwards it now")
            # Committed without waiting for the WAL flush (one a line would bound forwarding
            # at a few hundred lines a second): the server holds the position at once, so
            # this replica's death loses nothing; only a crash of the server itself may
            # lose its last fraction of a second, and those lines go again. The file
            # archive's mark is the same: written to the OS, not fsynced.
            await self._archive.pool.execute(
                """
                WITH unflushed AS (SELECT set_config('synchronous_commit', 'off', true))
                UPDATE log_pods SET forwarded_through = $3 FROM unflushed
                WHERE task_id = $1 AND pod = $2
                """,
                self._meta.task_id,
                self._meta.pod,
                sequence,
            )
            self.position = sequence

    @reaching
    async def finish(self) -> None:
        await self._archive.pool.execute(
            "UPDATE log_pods SET forwarding = false WHERE task_id = $1 AND pod = $2",
            self._meta.task_id,
            self._meta.pod,
        )
        await self.close()

    @reaching
    async def close(self) -> None:
        await self._archive.locks.release(self._key)


class PostgresArchive:
    def __init__(self, pool: asyncpg.Pool, locks: AdvisoryLocks, origin: str) -> None:
        self.pool = pool
        self.locks = locks
        # Names this process in its notices, so it skips its own.
        self.origin = origin

    async def notify(self, connection: Connection, meta: PodMeta) -> None:
        await connection.execute(
            "SELECT pg_notify($1, $2)", LOG_CHANNEL, notice_payload(self.origin, meta)
        )

    @reaching
    async def open_writer(
        self, meta: PodMeta, *, forward: bool
    ) -> tuple[PostgresPodWriter, PodMeta]:
        key = lock_key(Hold.WRITE, meta.task_id, meta.pod)
        if not await self.locks.try_hold(key):
            raise ArchiveBusy(f"{meta.pod} is being written by another tail")
        try:
            row = await self.pool.fetchrow(
                f"""
                INSERT INTO log_pods (task_id, pod, pipeline_id, stage_id, labels,
                                      created_at, forwarding)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT (task_id, pod) DO UPDATE
                SET complete = false, forwarding = log_pods.forwarding OR $7,
                    written_at = now()
                RETURNING {_POD_COLUMNS}, bytes
                """,
                meta.task_id,
                meta.pod,
                meta.pipeline_id,
                meta.stage_id,
                json.dumps(meta.labels),
                meta.created_at,
                forward,
            )
            assert row is not None  # an upsert returns its row
            last = await self.pool.fetchval(
                "SELECT msg FROM log_lines WHERE pod_id = $1 ORDER BY seq DESC LIMIT 1",
                row["id"],
            )
        except BaseException:
            await self.locks.release(key)
            raise
        truncated = last is not None and bytes(last).decode().startswith(TRUNCATED)
        stored = _meta(row)
        writer = PostgresPodWriter(
            self, stored, row["id"], stored.lines, row["bytes"], truncated, key
        )
        return writer, stored

    @reaching
    async def save(self, meta: PodMeta) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "UPDATE log_pods SET complete = $3, lines = greatest(lines, $4), note = $5,"
                " written_at = now() WHERE task_id = $1 AND pod = $2",
                meta.task_id,
                meta.pod,
                meta.complete,
                meta.lines,
                meta.note,
            )
            await self.notify(connection, meta)

    @reaching
    async def current(self, meta: PodMeta) -> PodMeta | None:
        row = await self.pool.fetchrow(
            f"SELECT {_POD_COLUMNS} FROM log_pods WHERE task_id = $1 AND pod = $2",
            meta.task_id,
            meta.pod,
        )
        return _meta(row) if row is not None else None

    @reaching
    async def find(self, selector: LogSelector) -> list[PodMeta]:
        rows = await self.pool.fetch(
            f"""
            SELECT {_POD_COLUMNS} FROM log_pods
            WHERE ($1 = '' OR pipeline_id = $1) AND ($2 = '' OR task_id = $2)
              AND ($3 = '' OR pod = $3) AND ($4 = '' OR stage_id = $4)
            ORDER BY created_at, pod
            """,
            selector.pipeline_id,
            selector.task_id,
            selector.pod,
            selector.stage_id,
        )
        return [_meta(row) for row in rows]

    def reader(self, meta: PodMeta) -> PostgresPodReader:
        return PostgresPodReader(self, meta)

    @reaching
    async def pending_forwards(self) -> list[PodMeta]:
        rows = await self.pool.fetch(f"SELECT {_POD_COLUMNS} FROM log_pods WHERE forwarding")
        return [_meta(row) for row in rows]

    @reaching
    async def acquire_forward(self, meta: PodMeta) -> PostgresForwardMark | None:
        key = lock_key(Hold.FORWARD, meta.task_id, meta.pod)
        if not await self.locks.try_hold(key):
            return None
        # Read after the lock: a holder that finished just before has committed its end.
        position = await self.pool.fetchval(
            "SELECT forwarded_through FROM log_pods WHERE task_id = $1 AND pod = $2 AND forwarding",
            meta.task_id,
            meta.pod,
        )
        if position is None:
            await self.locks.release(key)
            return None
        return PostgresForwardMark(self, meta, position, key)

    @reaching
    async def prune(self, before: float) -> list[str]:
        rows = await self.pool.fetch(
            """
            WITH gone AS (
                DELETE FROM log_pods WHERE task_id IN (
                    SELECT task_id FROM log_pods GROUP BY task_id
                    HAVING bool_and(complete) AND NOT bool_or(forwarding)
                       AND max(written_at) < $1
                )
                RETURNING id, task_id
            ), their_lines AS (
                DELETE FROM log_lines WHERE pod_id IN (SELECT id FROM gone)
            )
            SELECT DISTINCT task_id FROM gone
            """,
            datetime.fromtimestamp(before, UTC),
        )
        return sorted(row["task_id"] for row in rows)
