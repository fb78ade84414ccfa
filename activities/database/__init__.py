"""PostgreSQL, where replicas keep what they must share (OTTOSCALER_DATABASE_URL)."""

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own, or one lent by the pool: queries take either.
Connection = asyncpg.Connection | PoolConnectionProxy

# Refused, timed out or dropped connections (OSError, class 08), and a server shutting
# down or starting up (class 57P).
UNREACHABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)


def unreachable(err: Exception) -> bool:
    """The database cannot be reached (it may answer later). Also the driver's
    InterfaceError for a connection it found closed; any other InterfaceError is a
    misuse, a bug, and stays one."""
    if isinstance(err, UNREACHABLE):
        return True
    return isinstance(err, asyncpg.InterfaceError) and "connection is closed" in str(err)
