"""The log machinery of one Ottoscaler process: the sinks the tail and agents write to,
and the forwarder to otto-handler when OTTO_HANDLER_ADDR is set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from activities.log_sinks import Archive, LiveHub, LogSinks
from gateway.log_forwarder import LogForwarder
from gateway.settings import Settings


def log_sinks(settings: Settings) -> LogSinks:
    return LogSinks(Archive(settings.log_dir), LiveHub(), forward=bool(settings.otto_handler_addr))


@asynccontextmanager
async def forwarding(settings: Settings, sinks: LogSinks) -> AsyncIterator[None]:
    if not settings.otto_handler_addr or sinks.archive is None:
        yield
        return
    forwarder = LogForwarder(
        settings.otto_handler_addr, sinks.archive, sinks.hub, settings.namespace
    )
    async with forwarder.running():
        yield
