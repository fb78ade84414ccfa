"""A succeeded worker's outputs, read from its runtime before it is deleted.

The text is masked like every line the worker prints (a secret written to OTTO_OUTPUTS
never reaches history), then parsed and checked (workflows/workers/outputs.py). Outputs
that break a rule fail the shard, InvalidOutputs, naming the worker: the workflow never
retries that, and the stage's error says which line and which limit.
"""

from __future__ import annotations

from activities.logs.masking import Masker
from activities.runtimes.boundary import runtime_boundary
from activities.runtimes.protocol import WorkerRuntime
from workflows.workers.outputs import INVALID_OUTPUTS, OutputsError, parse_outputs
from workflows.workers.spec import WorkerOutcome, WorkerSpec


async def with_outputs(
    runtime: WorkerRuntime, spec: WorkerSpec, outcome: WorkerOutcome, mask: Masker
) -> WorkerOutcome:
    if not outcome.succeeded:
        return outcome  # a failed worker's outputs are never the stage's
    try:
        outputs = parse_outputs(mask(await runtime_boundary(runtime.read_outputs(spec))))
    except OutputsError as err:
        return outcome.model_copy(
            update={
                "succeeded": False,
                "reason": INVALID_OUTPUTS,
                "message": f"worker {spec.name}: {err}",
            }
        )
    return outcome.model_copy(update={"outputs": outputs}) if outputs else outcome
