"""A run's secrets at the gateway: checked, stored, and only their names passed on.

The values of PipelineRequest.secrets and PipelineStage.secrets go into the runtime's
SecretStore under a name made for this run, before the workflow starts; the workflow's
input holds that name and the secret names (workflows/pipeline/secrets.py). A start that
attaches to a running pipeline, or fails, removes what it stored at once; a gateway that
dies between store and start leaves it to the orphan reaper.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from activities.secrets.store import SecretStore
from ottoscaler.v1 import ottoscaler_pb2 as pb
from workflows.base.checks import Limits, SpecError
from workflows.pipeline.models import PipelineSpec
from workflows.pipeline.secrets import MAX_SECRETS_BYTES, check_secret_values, store_key
from workflows.workers.naming import dns_safe_name
from workflows.workers.spec import Labels


def secret_values(request: pb.PipelineRequest, limits: Limits) -> dict[str, str]:
    """Every value of the request under its store key; SpecError names the field, never
    the value."""
    total = check_secret_values("secrets", request.secrets, limits)
    values = {store_key("", name, own=False): value for name, value in request.secrets.items()}
    for index, stage in enumerate(request.stages):
        total += check_secret_values(f"stages[{index}].secrets", stage.secrets, limits)
        values.update(
            {store_key(stage.stage_id, name, own=True): v for name, v in stage.secrets.items()}
        )
    if total > MAX_SECRETS_BYTES:
        raise SpecError(
            "secrets", f"all values together are {total} bytes, at most {MAX_SECRETS_BYTES}"
        )
    return values


def with_secret_names(spec: PipelineSpec, request: pb.PipelineRequest) -> PipelineSpec:
    """The spec with its secrets' names and a store made for this run, if it has any."""
    stages = tuple(
        stage.model_copy(update={"secret_names": tuple(sorted(wire.secrets))})
        for stage, wire in zip(spec.stages, request.stages, strict=True)
    )
    names = tuple(sorted(request.secrets))
    if not names and not any(stage.secret_names for stage in stages):
        return spec
    store = dns_safe_name("secrets", uuid.uuid4().hex[:16])
    return spec.model_copy(update={"stages": stages, "secret_names": names, "secret_store": store})


async def store_secrets(store: SecretStore, spec: PipelineSpec, values: Mapping[str, str]) -> None:
    labels = {Labels.PIPELINE_ID: spec.pipeline_id, Labels.TASK_ID: spec.pipeline_id}
    await store.put(spec.secret_store, labels, values)
