"""Keeps this process's secrets from other processes of the same user.

Local workers run as the Ottoscaler user, and so may any other process on the host:
such a process can read /proc/<pid>/environ and /proc/<pid>/mem of every process of
that user that is dumpable. Ottoscaler makes itself non-dumpable (Linux only; elsewhere
this is a no-op) and takes its secrets out of os.environ once Settings has read them,
so that no child it starts later (the dev server, a local worker) inherits them. The
environment the kernel recorded at exec is not rewritten: OTTOSCALER_AUTH_TOKEN_FILE and
OTTOSCALER_SIGNING_KEY_FILE keep a secret out of it altogether.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

SECRET_VARIABLES = (
    "OTTOSCALER_AUTH_TOKEN",
    "OTTOSCALER_SIGNING_KEY",
    "OTTOSCALER_DATABASE_URL",
    "OTTOSCALER_PAYLOAD_KEY",
)
_PR_SET_DUMPABLE = 4


def environment_without_secrets() -> dict[str, str]:
    """This process's environment for a child, built without the secrets, whatever
    os.environ holds by then."""
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}


def forget_secret_environment() -> None:
    """Removes the secrets from os.environ: children started later do not inherit them."""
    for name in SECRET_VARIABLES:
        os.environ.pop(name, None)


def make_undumpable() -> bool:
    """Makes /proc/<this pid>/environ, mem and ptrace unavailable to other processes of the
    same user (a process stays non-dumpable until it execs). False where unsupported."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_DUMPABLE, 0) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True
