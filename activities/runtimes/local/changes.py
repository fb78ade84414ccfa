"""Wakes whoever follows a worker's output when a file in its directory changes.

Supervisors are not this process's children and write to files, so nothing else tells
this process that a worker printed. Linux inotify does, without polling: one instance
per runtime (the kernel allows a user 128 instances, and many watches), one watch per
followed directory, shared by its followers. Where inotify is not to be had (not Linux,
no instance left) followers look every POLL_SECONDS instead, the archive's own pace
(LOG_POLL_SECONDS' default).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
IN_MODIFY = 0x002
IN_Q_OVERFLOW = 0x4000  # events were lost: wake every follower
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_BYTES = 64 * 1024


class Wakeup:
    """One follower's signal: set when its directory changed."""

    def __init__(self, poll_seconds: float | None) -> None:
        self.changed = asyncio.Event()
        self._poll_seconds = poll_seconds

    async def wait(self, ended: asyncio.Event) -> None:
        """Until the directory changed or the worker ended (without inotify: a while)."""
        waits = {asyncio.ensure_future(self.changed.wait()), asyncio.ensure_future(ended.wait())}
        try:
            await asyncio.wait(waits, timeout=self._poll_seconds, return_when="FIRST_COMPLETED")
        finally:
            for waiting in waits:
                waiting.cancel()


class DirectoryChanges:
    def __init__(self) -> None:
        self._fd: int | None = None
        self._libc: ctypes.CDLL | None = None
        self._unavailable = False
        self._wakeups: dict[int, set[Wakeup]] = {}  # by watch descriptor
        self._watches: dict[Path, int] = {}

    @contextlib.contextmanager
    def watching(self, directory: Path) -> Iterator[Wakeup]:
        """A wakeup for changes in directory, from now until the block ends."""
        fd = self._instance()
        wd = -1 if fd is None else self._watch(fd, directory)
        wakeup = Wakeup(None if wd >= 0 else POLL_SECONDS)
        if wd >= 0:
            self._wakeups.setdefault(wd, set()).add(wakeup)
        try:
            yield wakeup
        finally:
            followers = self._wakeups.get(wd)
            if followers is not None:
                followers.discard(wakeup)
                if not followers:
                    self._unwatch(wd, directory)

    def close(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = None
        self._wakeups.clear()
        self._watches.clear()

    def _instance(self) -> int | None:
        if self._fd is None and not self._unavailable:
            try:
                self._libc = ctypes.CDLL(None, use_errno=True)
                fd = int(self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
                if fd < 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            except (OSError, AttributeError) as err:
                log.warning(
                    "local runtime: no inotify (%s); output is looked at every %ss",
                    err,
                    POLL_SECONDS,
                )
                self._unavailable = True
                return None
            asyncio.get_running_loop().add_reader(fd, self._read)
            self._fd = fd
        return self._fd

    def _watch(self, fd: int, directory: Path) -> int:
        if directory in self._watches:
            return self._watches[directory]
        assert self._libc is not None
        wd = int(self._libc.inotify_add_watch(fd, os.fsencode(directory), IN_MODIFY))
        if wd >= 0:  # else it is gone (deleted): its worker's end wakes the follower
            self._watches[directory] = wd
        return wd

    def _unwatch(self, wd: int, directory: Path) -> None:
        del self._wakeups[wd]
        del self._watches[directory]
        if self._fd is not None and self._libc is not None:
            self._libc.inotify_rm_watch(self._fd, wd)  # fails harmlessly once it is deleted

    def _read(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, _READ_BYTES)
        except BlockingIOError:
            return
        offset = 0
        while offset < len(data):
            wd, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            if mask & IN_Q_OVERFLOW:
                woken = [w for followers in self._wakeups.values() for w in followers]
            else:
                woken = list(self._wakeups.get(wd, ()))
            for wakeup in woken:
                wakeup.changed.set()
