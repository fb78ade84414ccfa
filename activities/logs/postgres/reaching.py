"""The one place where the database's "cannot reach you" errors become ArchiveUnavailable,
so callers wait and try again instead of failing what they do (or answering INTERNAL)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from activities.database import unreachable
from activities.logs.store import ArchiveUnavailable

P = ParamSpec("P")
R = TypeVar("R")


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
