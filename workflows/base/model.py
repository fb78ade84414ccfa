"""The base of every model that crosses Temporal: immutable, so a workflow's state changes
only where it says so."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)
