"""A stage's outputs: its shards' OTTO_OUTPUTS merged, and what downstream stages see of them.

Shards merge key by key: a key every shard that wrote it gave the same value is the
stage's; one given different values fails the stage, naming the key and two shards (a CI
user writes per-shard results under per-shard keys, e.g. `result_linux`). A stage's
merged outputs are at most MAX_STAGE_OUTPUTS_BYTES, and all of a pipeline's together at
most MAX_PIPELINE_OUTPUTS_BYTES: they travel in activity results, stage results, progress
events and every downstream worker's spec, so they stay small.

Downstream workers get the outputs of every stage upstream of theirs, transitively, as
OTTO_OUTPUT_<STAGE>_<KEY> (upper-cased, any other character `_`). Two outputs that name
one variable (stage `a_b` key `c` and stage `a` key `b_c`) fail the stage that would see
both before any of its workers starts: no value silently wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from workflows.pipeline.dag import Graph, upstream
from workflows.workers.outputs import outputs_bytes

MAX_STAGE_OUTPUTS_BYTES = 4000
MAX_PIPELINE_OUTPUTS_BYTES = 16 * 1024
ENV_PREFIX = "OTTO_OUTPUT_"
_NOT_ENV = re.compile(r"[^A-Z0-9_]")

Outputs = Mapping[str, str]


class OutputsConflict(ValueError):
    """Outputs that cannot be merged or passed on; str() says which and why."""


def env_part(text: str) -> str:
    """Upper-cased, every character an environment variable name cannot hold made `_`."""
    return _NOT_ENV.sub("_", text.upper())


def variable(stage_id: str, key: str) -> str:
    return f"{ENV_PREFIX}{env_part(stage_id)}_{env_part(key)}"


def merge_shards(shards: Mapping[int, Outputs]) -> dict[str, str]:
    """The stage's outputs from its shards' (shard index -> outputs)."""
    merged: dict[str, str] = {}
    writer: dict[str, tuple[str, int]] = {}  # upper-cased key -> (key, first shard)
    for shard in sorted(shards):
        for key, value in sorted(shards[shard].items()):
            first_key, first = writer.setdefault(key.upper(), (key, shard))
            if first_key != key:
                raise OutputsConflict(
                    f"outputs: shard {first} wrote {first_key!r} and shard {shard} wrote "
                    f"{key!r}, which differ only in case"
                )
            if merged.setdefault(key, value) != value:
                raise OutputsConflict(
                    f"outputs: key {key!r} is {_short(merged[key])} in shard {first} and "
                    f"{_short(value)} in shard {shard}; shards must agree on a key's value"
                )
    size = outputs_bytes(merged)
    if size > MAX_STAGE_OUTPUTS_BYTES:
        raise OutputsConflict(
            f"outputs: the shards' outputs merged are {size} bytes, "
            f"at most {MAX_STAGE_OUTPUTS_BYTES} a stage"
        )
    return merged


def check_pipeline_total(stage_outputs: Outputs, others: Iterable[Outputs]) -> None:
    """A stage's outputs must fit beside those of the stages that completed before it."""
    total = outputs_bytes(stage_outputs) + sum(outputs_bytes(o) for o in others)
    if total > MAX_PIPELINE_OUTPUTS_BYTES:
        raise OutputsConflict(
            f"outputs: the pipeline's outputs would be {total} bytes, "
            f"at most {MAX_PIPELINE_OUTPUTS_BYTES} in all"
        )


def outputs_env(graph: Graph, stage_id: str, outputs: Mapping[str, Outputs]) -> dict[str, str]:
    """OTTO_OUTPUT_<STAGE>_<KEY> for every output of every stage upstream of stage_id."""
    env: dict[str, str] = {}
    named: dict[str, str] = {}
    for dep in upstream(graph, stage_id):
        for key, value in sorted(outputs.get(dep, {}).items()):
            name = variable(dep, key)
            source = f"stage {dep}'s output {key!r}"
            if name in named:
                raise OutputsConflict(
                    f"outputs: {named[name]} and {source} both name {name}; rename one of the keys"
                )
            named[name] = source
            env[name] = value
    return env


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")
