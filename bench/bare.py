"""A bare Temporal workflow of a pipeline's shape: what the same DAG costs without Ottoscaler.

One no-op activity per stage, each started once all its dependencies are done; sandboxed
like any plain workflow (and like Ottoscaler's). bench/cost.py runs it beside a pipeline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

LAYERS = (1, 6, 8, 4, 1)


@dataclass(frozen=True)
class BareStage:
    stage_id: str
    depends_on: tuple[str, ...]


def layered_stages() -> list[BareStage]:
    stages: list[BareStage] = []
    previous: tuple[str, ...] = ()
    for layer, width in enumerate(LAYERS):
        ids = tuple(f"l{layer}-{n}" for n in range(width))
        stages += [BareStage(stage_id, previous) for stage_id in ids]
        previous = ids
    return stages


@activity.defn
async def bare_stage(stage_id: str) -> None:
    """Stands for a stage's work: nothing."""


@workflow.defn
class BareDagWorkflow:
    @workflow.run
    async def run(self, stages: list[BareStage]) -> None:
        done: dict[str, asyncio.Task[None]] = {}
        for stage in stages:
            after = [done[dep] for dep in stage.depends_on]
            done[stage.stage_id] = asyncio.create_task(self._stage(stage.stage_id, after))
        await asyncio.gather(*done.values())

    async def _stage(self, stage_id: str, after: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*after)
        await workflow.execute_activity(
            bare_stage, stage_id, start_to_close_timeout=timedelta(seconds=60)
        )
