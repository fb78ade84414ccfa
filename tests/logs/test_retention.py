"""LOG_RETENTION_DAYS: finished, forwarded tasks past it are deleted whole; others stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from activities.logs import Archive, LogSelector, PodMeta
from gateway.app import Running
from gateway.settings import Settings
from tests.waiting import eventually

DAY = 86_400.0


async def archive_task(
    root: Path, task: str, *, complete: bool = True, forward: bool = False
) -> None:
    """One pod of `task` in the archive, complete or not, with its forwarding pending."""
    archive = Archive(root)
    writer, stored = await archive.open_writer(
        PodMeta(pod=f"{task}-build-0", task_id=task), forward=forward
    )
    await writer.close()
    await archive.save(stored.model_copy(update={"complete": complete}))


def age(root: Path, task: str, days: float) -> None:
    """Makes every file of the task look last written `days` ago."""
    then = time.time() - days * DAY
    for path in (root / task).iterdir():
        os.utime(path, (then, then))


def tasks(root: Path) -> set[str]:
    return {path.name for path in root.iterdir()}


async def test_only_old_finished_forwarded_tasks_are_pruned(tmp_path: Path) -> None:
    await archive_task(tmp_path, "old-done")
    await archive_task(tmp_path, "recent-done")
    await archive_task(tmp_path, "old-running", complete=False)
    await archive_task(tmp_path, "old-unforwarded", forward=True)
    for task in ("old-done", "old-running", "old-unforwarded"):
        age(tmp_path, task, days=10)
    age(tmp_path, "recent-done", days=1)

    archive = Archive(tmp_path)
    assert await archive.find(LogSelector(task_id="old-done"))  # cached before it is pruned
    assert await archive.prune(before=time.time() - 7 * DAY) == ["old-done"]
    assert tasks(tmp_path) == {"recent-done", "old-running", "old-unforwarded"}
    assert await archive.find(LogSelector(task_id="old-done")) == []
    assert await archive.prune(before=time.time() - 7 * DAY) == []


@pytest.fixture
async def settings(settings: Settings) -> Settings:
    """An archive holding an expired task and a fresh one before Ottoscaler starts."""
    await archive_task(settings.log_dir, "expired")
    age(settings.log_dir, "expired", days=31)
    await archive_task(settings.log_dir, "fresh")
    return settings.model_copy(update={"log_retention_days": 30})


async def test_a_running_ottoscaler_prunes_expired_tasks(
    ottoscaler: Running, settings: Settings
) -> None:
    async def pruned() -> bool:
        return "expired" not in tasks(settings.log_dir)

    await eventually(pruned)
    assert tasks(settings.log_dir) == {"fresh"}
