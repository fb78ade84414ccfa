"""Pure decisions about a stage's shards: their WorkerSpec, and which failures to retry."""

from __future__ import annotations

from collections.abc import Iterable

from workflows.pipeline.matrix import (
    MATRIX_ENV,
    combination,
    describe,
    matrix_env,
    matrix_json,
    matrix_labels,
)
from workflows.pipeline.models import StageSpec
from workflows.workers.calls import REFUSED
from workflows.workers.naming import stage_worker_name
from workflows.workers.outputs import INVALID_OUTPUTS
from workflows.workers.signed import PER_WORKER_ENV_PREFIXES
from workflows.workers.spec import (
    MANAGED_BY,
    PIPELINE_STATUS_ENV,
    Labels,
    SecretRefs,
    WorkerOutcome,
    WorkerSpec,
    env_from_config,
    pending_timeout,
)


class StageContext:
    """What a stage's shards share: the pipeline identity and the run that owns them."""

    def __init__(
        self,
        pipeline_id: str,
        repository: str,
        commit_sha: str,
        run: str,
        stage: StageSpec,
        secrets: SecretRefs | None = None,
        pipeline_status: str = "",
        outputs_env: dict[str, str] | None = None,
    ) -> None:
        """pipeline_status: the outcome a cleanup stage's workers see (cleanup.py)."""
        self.pipeline_id = pipeline_id
        self.repository = repository
        self.commit_sha = commit_sha
        self.run = run
        self.stage = stage
        self.secrets = secrets
        self.pipeline_status = pipeline_status
        # OTTO_OUTPUT_* of the stages upstream (outputs.py).
        self.outputs_env = outputs_env or {}

    def worker_name(self, shard: int, attempt: int) -> str:
        return stage_worker_name(self.pipeline_id, self.stage.stage_id, shard, attempt, self.run)

    def worker_spec(self, shard: int, attempt: int) -> WorkerSpec:
        stage = self.stage
        # A config key never poses as the matrix, a matrix value or an upstream output,
        # which the workflow sets (the signature leaves the last two out).
        derived = (MATRIX_ENV, *PER_WORKER_ENV_PREFIXES)
        env = {k: v for k, v in env_from_config(stage.config).items() if not k.startswith(derived)}
        labels: dict[str, str] = {}
        if self.secrets is not None:
            # A secret wins over a config key of its name: its value must not be replaced.
            env = {k: v for k, v in env.items() if k not in self.secrets.keys}
            labels[Labels.SECRETS] = self.secrets.store
        env.update(self.outputs_env)
        if stage.matrix:
            combo = combination(stage.matrix, shard)
            env[MATRIX_ENV] = matrix_json(stage.matrix)
            env.update(matrix_env(combo))
            labels.update(matrix_labels(combo))
        env.update(
            OTTO_TASK_ID=self.pipeline_id,
            OTTO_PIPELINE_ID=self.pipeline_id,
            OTTO_STAGE_ID=stage.stage_id,
            OTTO_WORKER_INDEX=str(shard),
            OTTO_WORKER_COUNT=str(stage.worker_count),
            OTTO_ATTEMPT=str(attempt),
            OTTO_REPOSITORY=self.repository,
            OTTO_COMMIT_SHA=self.commit_sha,
        )
        if self.pipeline_status:
            env[PIPELINE_STATUS_ENV] = self.pipeline_status
        return WorkerSpec(
            name=self.worker_name(shard, attempt),
            labels={
                Labels.MANAGED_BY: MANAGED_BY,
                Labels.TASK_ID: self.pipeline_id,
                Labels.PIPELINE_ID: self.pipeline_id,
                Labels.STAGE_ID: stage.stage_id,
                Labels.STAGE_TYPE: stage.type or "custom",
                Labels.RUN_ID: self.run,
                Labels.SHARD: str(shard),
                Labels.ATTEMPT: str(attempt),
                **labels,
            },
            env=env,
            image=stage.image,
            command=stage.command,
            args=stage.args,
            config=dict(stage.config),
            attempt=attempt,
            max_attempts=stage.attempts_allowed,
            timeout_seconds=stage.timeout_seconds,
            pending_timeout_seconds=pending_timeout(stage.config),
            summary=self.summary(shard, attempt),
            secrets=self.secrets,
            signature=stage.signature,
        )

    def summary(self, shard: int, attempt: int) -> str:
        """What the Web UI shows for the shard's activities: 'build · shard 0 of 3 · attempt
        2/3', with a matrix shard's combination ('test · shard 1 of 4 · os=linux,
        python=3.12 · attempt 1/1'). Shards count from 0 everywhere (errors, pod names,
        OTTO_WORKER_INDEX)."""
        stage = self.stage
        combo = f" · {describe(combination(stage.matrix, shard))}" if stage.matrix else ""
        return (
            f"{stage.stage_id} · {shard_name(shard, stage.worker_count)}{combo}"
            f" · attempt {attempt}/{stage.attempts_allowed}"
        )


def shard_name(shard: int, worker_count: int) -> str:
    return f"shard {shard} of {worker_count}"


def failure_labels(outcome: WorkerOutcome) -> set[str]:
    """The names a retryable_failures entry may use for this failure."""
    labels = {outcome.reason}
    if outcome.exit_code not in (None, 0):
        labels.add(f"ExitCode:{outcome.exit_code}")
    return labels


def is_retryable(outcome: WorkerOutcome, retryable_failures: Iterable[str]) -> bool:
    """An empty list retries every failure; otherwise the reason or ExitCode:N must match.
    A worker the activity refused to create (unsigned, over the limit), or whose outputs
    broke a rule (the same program would write them again), is never retried."""
    if outcome.reason in REFUSED or outcome.reason == INVALID_OUTPUTS:
        return False
    patterns = set(retryable_failures)
    return not patterns or bool(patterns & failure_labels(outcome))
