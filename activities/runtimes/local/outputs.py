"""A local worker's outputs: the file OTTO_OUTPUTS names, in the worker's own directory.

Read after the worker ended, and only as much of it as the limit needs
(workflows/workers/outputs.py checks the rest): a worker may have made it anything, a
FIFO or a link to a huge file, so only a regular file is read, without following links
and without blocking.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from workflows.workers.outputs import MAX_WORKER_OUTPUTS_BYTES, OutputsError

OUTPUTS_FILE = "outputs"


def outputs_path(directory: Path) -> Path:
    return directory / OUTPUTS_FILE


def read_outputs(directory: Path) -> str:
    """The file's first bytes, one past the limit so that an oversize file is told apart;
    "" when the worker wrote none. OutputsError for anything but a regular file."""
    try:
        fd = os.open(outputs_path(directory), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return ""
    except OSError as err:
        raise OutputsError(f"OTTO_OUTPUTS could not be read: {err.strerror}") from err
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutputsError("OTTO_OUTPUTS is not a regular file")
        return file.read(MAX_WORKER_OUTPUTS_BYTES + 1).decode(errors="replace")
