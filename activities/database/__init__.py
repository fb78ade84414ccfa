"""PostgreSQL, where replicas keep what they must share (OTTOSCALER_DATABASE_URL)."""

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own, or one lent by the pool: queries take either.
Connection = asyncpg.Connection | PoolConnectionProxy
