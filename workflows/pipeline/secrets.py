"""Secrets as references: what a pipeline's workflow knows of its secrets is their names.

The gateway stores the values (one store per run: a Kubernetes Secret, or Ottoscaler's
own store on local and mock) before it starts the workflow, and the spec carries the
store's name and the secret names only. A stage's worker gets every pipeline secret and
its stage's own, a stage's own winning; each becomes an environment variable, taken from
the store as the worker is created. A pipeline secret is kept under its name, a stage's
under `<stage_id>.<name>` (names hold no '.', so the two never meet).

The checks here never put a value into a message: a secret's field is named by its name.
"""

from __future__ import annotations

from collections.abc import Mapping

from workflows.base.checks import Limits, SpecError, check_text
from workflows.pipeline.models import PipelineSpec, StageSpec
from workflows.workers.spec import ENV_NAME, SecretRefs

# A Kubernetes Secret holds at most 1 MiB; a stage key adds its stage id (63) and a dot.
MAX_SECRET_NAME = 128
MAX_SECRET_VALUE_BYTES = 64 * 1024
MAX_SECRETS_BYTES = 512 * 1024
RESERVED_PREFIX = "OTTO_"
# The memo key of a pipeline run that names its secret store: the reaper keeps the store
# of an open run only if the run names it (a start that attached stored one in vain).
SECRET_STORE_MEMO = "ottoscaler.secrets"


def store_key(stage_id: str, name: str, *, own: bool) -> str:
    return f"{stage_id}.{name}" if own else name


def check_secret_names(field: str, names: tuple[str, ...], limits: Limits) -> None:
    """Names that become environment variables, none of Ottoscaler's own OTTO_*."""
    if len(names) > limits.max_map_entries:
        raise SpecError(field, f"has {len(names)} entries, at most {limits.max_map_entries}")
    for name in names:
        if len(name) > MAX_SECRET_NAME or not ENV_NAME.match(name):
            raise SpecError(
                f"{field} key {name[:MAX_SECRET_NAME]!r}",
                "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*, "
                f"at most {MAX_SECRET_NAME} characters)",
            )
        if name.upper().startswith(RESERVED_PREFIX):
            raise SpecError(
                f"{field}[{name!r}]", f"would shadow Ottoscaler's own {RESERVED_PREFIX}* variables"
            )


def check_secret_values(field: str, values: Mapping[str, str], limits: Limits) -> int:
    """Names first, then each value's size (never its text); returns the values' bytes."""
    check_secret_names(field, tuple(values), limits)
    total = 0
    for name, value in values.items():
        check_text(f"{field}[{name!r}]", value)
        size = len(value.encode())
        if size > MAX_SECRET_VALUE_BYTES:
            raise SpecError(
                f"{field}[{name!r}]", f"is {size} bytes, at most {MAX_SECRET_VALUE_BYTES}"
            )
        total += size
    return total


def check_pipeline_secrets(spec: PipelineSpec, limits: Limits) -> None:
    """The references: valid names, and a store whenever there is a name."""
    check_secret_names("secrets", spec.secret_names, limits)
    named = bool(spec.secret_names)
    for index, stage in enumerate(spec.stages):
        check_secret_names(f"stages[{index}].secrets", stage.secret_names, limits)
        named = named or bool(stage.secret_names)
    if named and not spec.secret_store:
        raise SpecError("secret_store", "is required when the pipeline has secrets")


def stage_secret_refs(spec: PipelineSpec, stage: StageSpec) -> SecretRefs | None:
    """What a stage's workers take from the store: the pipeline's secrets, then its own."""
    keys = {name: store_key(stage.stage_id, name, own=False) for name in spec.secret_names}
    keys.update({name: store_key(stage.stage_id, name, own=True) for name in stage.secret_names})
    if not keys:
        return None
    return SecretRefs(store=spec.secret_store, keys=keys)
