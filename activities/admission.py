"""Which workers this process creates: those its gateway signed, within its own limits.

The Temporal frontend accepts anyone who reaches it, and a workflow runs whatever input
it was started with. So the gateway signs what each stage or ScaleUp will run (an
HMAC-SHA256 over workflows/workers/signed.py's content, with a key only the gateway and
the workers hold, never in history or logs), and every activity that creates a worker
checks here first: a workflow started around the gateway creates nothing and fails
saying why. The worker counts are this process's own MAX_WORKERS_PER_TASK, whatever
limits the workflow's input carried. What passes gets its agent's credential.
"""

from __future__ import annotations

import hashlib
import hmac

from temporalio.exceptions import ApplicationError

from activities.logs.credentials import with_agent_credential
from workflows.pipeline.matrix import is_own_combination
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.pipeline.secrets import stage_secret_refs
from workflows.pipeline.shards import StageContext
from workflows.pool.models import ScaleUpRequest
from workflows.pool.specs import pool_worker_spec, pool_workflow_id
from workflows.workers.calls import OVER_WORKER_LIMIT, UNSIGNED_SPEC
from workflows.workers.naming import pipeline_workflow_id
from workflows.workers.signed import signed_content
from workflows.workers.spec import (
    PIPELINE_OUTCOMES,
    PIPELINE_STATUS_ENV,
    Labels,
    WorkerSpec,
)

NOT_SIGNED = (
    "spec not signed by this Ottoscaler's gateway: start pipelines and worker pools "
    "through the gateway (replicas must share OTTOSCALER_SIGNING_KEY or the auth token)"
)
WORKER_COUNT_ENV = "OTTO_WORKER_COUNT"
# Keeps these MACs apart from anything else signed with the same key (agents' credentials).
_PURPOSE = b"ottoscaler worker spec v1\0"


class SpecSigner:
    """Signs worker specs (the gateway) and checks them (the activities) with one key."""

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the signing key is empty")
        self._key = key

    def __repr__(self) -> str:
        return "SpecSigner(key hidden)"

    def sign(self, spec: WorkerSpec) -> str:
        message = _PURPOSE + signed_content(spec)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def signed(self, spec: WorkerSpec) -> bool:
        return bool(spec.signature) and hmac.compare_digest(spec.signature, self.sign(spec))

    def signed_pipeline(self, spec: PipelineSpec) -> PipelineSpec:
        """spec with every stage signed once, over its shard 0 at attempt 1: the one
        signature holds for every worker the stage makes."""
        stages = tuple(
            stage.model_copy(update={"signature": self.sign(_stage_form(spec, stage))})
            for stage in spec.stages
        )
        return spec.model_copy(update={"stages": stages})

    def signed_scale_up(self, request: ScaleUpRequest) -> ScaleUpRequest:
        """request signed over its first worker: the signature holds for all of them."""
        form = pool_worker_spec(request.task_id, "", request, 0)
        return request.model_copy(update={"signature": self.sign(form)})


class Admission:
    """What this process creates, made from the key the gateway and workers share."""

    def __init__(self, key: bytes, max_workers_per_task: int) -> None:
        self.signer = SpecSigner(key)
        self.max_workers_per_task = max_workers_per_task
        self._key = key

    def __repr__(self) -> str:
        return f"Admission(key hidden, max_workers_per_task={self.max_workers_per_task})"

    def admit(self, spec: WorkerSpec, workflow_id: str) -> WorkerSpec:
        """The spec to create, with its agent's credential (activities/logs/credentials.py);
        a non-retryable ApplicationError for a spec this process must not create.

        workflow_id: the workflow asking. A signature holds only in the workflow of the
        pipeline or pool it was made for, so a copy lifted from one history cannot run
        anywhere else (and Temporal runs one workflow per id at a time)."""
        status = spec.env.get(PIPELINE_STATUS_ENV, "COMPLETED")
        signed = (
            self.signer.signed(spec)
            and _signed_for(spec, workflow_id)
            and is_own_combination(spec.env, spec.labels)
        )
        if not signed or status not in PIPELINE_OUTCOMES:
            raise ApplicationError(NOT_SIGNED, type=UNSIGNED_SPEC, non_retryable=True)
        count = spec.env.get(WORKER_COUNT_ENV, "")
        if not count.isdecimal() or int(count) > self.max_workers_per_task:
            raise ApplicationError(
                f"worker_count {count or '(none)'} is over this worker's "
                f"MAX_WORKERS_PER_TASK={self.max_workers_per_task}",
                type=OVER_WORKER_LIMIT,
                non_retryable=True,
            )
        return with_agent_credential(spec, self._key)


def _stage_form(spec: PipelineSpec, stage: StageSpec) -> WorkerSpec:
    """The stage's first worker as its workflow will make it, but for the run's id."""
    secrets = stage_secret_refs(spec, stage)
    context = StageContext(spec.pipeline_id, spec.repository, spec.commit_sha, "", stage, secrets)
    return context.worker_spec(0, 1)


def _signed_for(spec: WorkerSpec, workflow_id: str) -> bool:
    pipeline = spec.labels.get(Labels.PIPELINE_ID)
    if pipeline is not None:  # the pipeline itself, or one of its StageWorkflow children
        own = pipeline_workflow_id(pipeline)
        return workflow_id == own or workflow_id.startswith(f"{own}/")
    return workflow_id == pool_workflow_id(spec.labels.get(Labels.TASK_ID, ""))
