"""The schema, as numbered steps that each database takes once, in order.

Every replica runs `migrate` at start. The steps run inside one transaction holding an
advisory lock, so replicas that start together take turns and the second finds the work
done. A step is never edited once released: a change is a new step.
"""

from __future__ import annotations

from activities.database import Connection

# Any constant both sides agree on; it names the lock in pg_locks.
MIGRATION_LOCK = 0x6F74746F  # "otto"

STEPS: tuple[str, ...] = (
    # 1: the log archive. A pod's lines, each sequence once; the pod's meta and how far
    # otto-handler has settled its lines. msg is bytea: worker output may hold NUL,
    # which a text column refuses.
    """
    CREATE TABLE log_pods (
        id bigserial PRIMARY KEY,
        task_id text NOT NULL,
        pod text NOT NULL,
        pipeline_id text NOT NULL DEFAULT '',
        stage_id text NOT NULL DEFAULT '',
        labels jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        complete boolean NOT NULL DEFAULT false,
        lines bigint NOT NULL DEFAULT 0,
        bytes bigint NOT NULL DEFAULT 0,
        note text NOT NULL DEFAULT '',
        forwarding boolean NOT NULL DEFAULT false,
        forwarded_through bigint NOT NULL DEFAULT 0,
        written_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (task_id, pod)
    );
    CREATE INDEX log_pods_pipeline ON log_pods (pipeline_id, created_at);
    CREATE INDEX log_pods_forwarding ON log_pods (id) WHERE forwarding;
    CREATE TABLE log_lines (
        pod_id bigint NOT NULL REFERENCES log_pods (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        ts timestamptz NOT NULL,
        src text NOT NULL,
        lvl text NOT NULL DEFAULT '',
        msg bytea NOT NULL,
        PRIMARY KEY (pod_id, seq)
    );
    """,
    # 2: MAX_WORKERS across replicas. A claim on room for workers the runtime may not show
    # yet, held by one replica's connection (holder, its backend pid): a claim whose
    # holder's connection is gone (the replica died) counts for nothing.
    """
    CREATE TABLE worker_room (
        name text PRIMARY KEY,
        count integer NOT NULL,
        holder integer NOT NULL
    );
    """,
    # 3: lines without a foreign key to their pod. Checking it looked the pod up once for
    # every line inserted, nearly half the work of archiving a batch (bench/logs.py); only
    # the archive writes lines, always for a pod it has just found or made, and pruning
    # deletes a task's lines with its pods.
    """
    ALTER TABLE log_lines DROP CONSTRAINT log_lines_pod_id_fkey;
    """,
)


async def migrate(connection: Connection) -> int:
    """Brings the schema to the last step; returns the version it is at."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS ottoscaler_schema (version integer NOT NULL)"
        )
        version = await connection.fetchval("SELECT max(version) FROM ottoscaler_schema") or 0
        if version > len(STEPS):
            raise RuntimeError(
                f"the database is at schema version {version}, newer than this Ottoscaler "
                f"({len(STEPS)}): run the newer release, or restore an older database"
            )
        for number, step in enumerate(STEPS[version:], version + 1):
            await connection.execute(step)
            await connection.execute("INSERT INTO ottoscaler_schema VALUES ($1)", number)
    return len(STEPS)
