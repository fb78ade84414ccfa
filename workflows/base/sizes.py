"""What Temporal accepts, measured on its dev server, and what Ottoscaler plans below it.

One payload (a workflow's, update's or activity's input, a result, a query's answer) is
refused past 2 MiB: the worker fails the workflow task that would write it, again and
again, and a query answers 'Blob data size exceeds limit'. A workflow task's commands
travel in one gRPC message of at most 4 MiB: four activities of 1 MB each scheduled
together pass, five fail 'GRPC Message too large' and Temporal terminates the run.
"""

from __future__ import annotations

from pydantic import BaseModel

# What one payload Ottoscaler writes may hold, with room for its envelope.
MAX_PAYLOAD_BYTES = 1536 * 1024
# What the commands of one workflow task may plan for, with room for the rest of its message.
WORKFLOW_TASK_BYTES_BUDGET = 3 * 1024 * 1024
_CUT = " …[cut]"


def json_bytes(model: BaseModel) -> int:
    """What a model weighs as Temporal stores it: its JSON, in bytes."""
    return len(model.model_dump_json().encode())


def clip(text: str, most: int) -> str:
    """At most `most` characters, the cut marked: for texts that come from outside."""
    if len(text) <= most:
        return text
    return text[: max(0, most - len(_CUT))] + _CUT
