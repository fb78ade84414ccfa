"""The one place where the database's "cannot reach you" errors become ArchiveUnavailable,
so callers wait and try again instead of failing what they do (or answering INTERNAL)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import asyncpg

from activities.logs.store import ArchiveUnavailable

P = ParamSpec("P")
R = TypeVar("R")

# Refused, timed out or dropped connections (OSError, class 08), and a server shutting
# down or starting up (class 57P).
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def unreachable(err: Exception) -> bool:
    """Also the driver's InterfaceError for a connection it found closed; any other
    InterfaceError is a misuse, a bug, and stays one."""
    if isinstance(err, UNREACHABLE):
        return True
    return isinstance(err, asyncpg.InterfaceError) and "connection is closed" in str(err)


def reaching(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    @wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except Exception as err:
            if not unreachable(err):
                raise
            raise ArchiveUnavailable(f"the log database is unreachable: {err}") from err

    return call
