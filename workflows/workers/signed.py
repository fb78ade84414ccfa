"""What the gateway's signature over a worker covers; the HMAC itself is activities/admission.py.

Anyone who reaches the Temporal frontend can start a workflow with any input, so the
activities create only workers whose spec the gateway signed. The signature covers all
that a stage or a ScaleUp decides about its workers: what runs (image, command, args),
with what (env, config), how long and how often, and under which identity (labels). It
leaves out what the workflow's own code derives for each worker (name, shard, attempt,
run, pool index, summary, a matrix shard's combination, upstream outputs), so the
gateway signs once per stage or ScaleUp, before anything starts, and that one signature
holds for every worker made from it. Every other field, present or added later, is
covered.
"""

from __future__ import annotations

import json

from workflows.workers.spec import PIPELINE_STATUS_ENV, Labels, WorkerSpec

# An HMAC-SHA256 in hex (activities/admission.py). Sizes are planned as signed, so that the
# gateway (before it signs) and the workflow (after) weigh a request alike.
SIGNATURE_CHARS = 64
_PER_WORKER_FIELDS = {"name", "attempt", "summary", "signature"}
# OTTO_PIPELINE_STATUS: the workflow learns it only when the cleanup stage starts (the
# activities admit only PIPELINE_OUTCOMES there).
_PER_WORKER_ENV = frozenset({"OTTO_WORKER_INDEX", "OTTO_ATTEMPT", PIPELINE_STATUS_ENV})
_PER_WORKER_LABELS = frozenset({Labels.RUN_ID, Labels.SHARD, Labels.ATTEMPT, Labels.POOL_INDEX})
# A matrix shard's own combination (its signed OTTO_MATRIX declares them all, and the
# activities check the shard against it), and the outputs of the stages upstream, which
# workers wrote while the pipeline ran: no gateway could sign them before.
PER_WORKER_ENV_PREFIXES = ("OTTO_MATRIX_", "OTTO_OUTPUT_")
_PER_WORKER_LABEL_PREFIXES = ("ottoscaler.io/matrix-",)


def unsigned_chars(signature: str) -> int:
    """What signing will add to a stage's or a ScaleUp's JSON whose signature is this."""
    return SIGNATURE_CHARS - len(signature)


def signed_content(spec: WorkerSpec) -> bytes:
    """The canonical bytes the signature is computed over (sorted keys, no spaces)."""
    content = spec.model_dump(mode="json", exclude=_PER_WORKER_FIELDS)
    content["env"] = {
        k: v
        for k, v in spec.env.items()
        if k not in _PER_WORKER_ENV and not k.startswith(PER_WORKER_ENV_PREFIXES)
    }
    content["labels"] = {
        k: v
        for k, v in spec.labels.items()
        if k not in _PER_WORKER_LABELS and not k.startswith(_PER_WORKER_LABEL_PREFIXES)
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
