"""Keeps the dev server of `ottoscaler up` running: one that dies is started again on the
same database file and ports, so no pipeline is lost.

Restarts back off (0.5 s, doubling to 10 s). A server that stayed up a while before it died
starts the count over; past RESTARTS failed or short-lived restarts in a row, `up` gives
up and exits saying why (DevServerLost) rather than serve without Temporal.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from activities.backoff import Backoff
from gateway.ports import PortInUse
from gateway.temporal.devserver import DevServer

log = logging.getLogger(__name__)
STABLE_SECONDS = 60.0
RESTARTS = 6
FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 10.0


class DevServerLost(Exception):
    """The dev server died and could not be started again; the message says why."""


def _how_it_ended(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with {returncode}"


async def _ended(dev: DevServer) -> int:
    """Waits for the dev server's process to end and reaps it (no zombie); its return code.
    The wait runs in a thread; stopping `up` ends the process, and with it the wait."""
    assert dev.process is not None, "the dev server was never started"
    return await asyncio.to_thread(dev.process.wait)


async def supervise(dev: DevServer, namespace: str) -> None:
    """Restarts the dev server whenever it dies; raises DevServerLost when it cannot."""
    loop = asyncio.get_running_loop()
    backoff = Backoff(FIRST_PAUSE_SECONDS, MAX_PAUSE_SECONDS, retries=RESTARTS)
    while True:
        started = loop.time()
        how = _how_it_ended(await _ended(dev))
        if loop.time() - started > STABLE_SECONDS:
            backoff.reset()
        log.warning("the Temporal dev server %s; starting it again", how)
        why = f"each time it died within {STABLE_SECONDS:.0f} s"
        while True:
            pause = backoff.failed()
            if backoff.exhausted:
                raise DevServerLost(
                    f"the Temporal dev server {how} and did not come back after "
                    f"{RESTARTS} restarts: {why}"
                )
            await asyncio.sleep(pause)
            try:
                await dev.start(namespace)
            except (OSError, RuntimeError, PortInUse) as err:
                why = str(err)
                log.warning("restarting the Temporal dev server failed: %s", why)
                continue
            log.info("the Temporal dev server is back on %s", dev.address)
            break
