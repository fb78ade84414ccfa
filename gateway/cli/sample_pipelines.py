"""The pipelines `test-pipeline -type ...` sends: simple, parallel, a full CI/CD DAG, one
with conditions, one with an approval, one with cleanup stages, one passing outputs
downstream and one with a matrix.

Every stage runs `sh -c` on the local runtime and prints a few lines from its environment.
"""

from __future__ import annotations

from ottoscaler.v1 import ottoscaler_pb2 as pb

_SCRIPT = (
    'echo "[$OTTO_STAGE_ID] shard $OTTO_WORKER_INDEX of $OTTO_WORKER_COUNT'
    ' attempt $OTTO_ATTEMPT on $OTTO_REPOSITORY@$OTTO_COMMIT_SHA"; '
    "sleep {seconds}; "
    'echo "[$OTTO_STAGE_ID] {what}"; '
    'echo "[$OTTO_STAGE_ID] done"'
)


def stage(
    stage_id: str,
    kind: str,
    what: str,
    *,
    depends_on: tuple[str, ...] = (),
    workers: int = 1,
    seconds: float = 0.3,
) -> pb.PipelineStage:
    return pb.PipelineStage(
        stage_id=stage_id,
        type=kind,
        name=stage_id.replace("-", " "),
        worker_count=workers,
        depends_on=list(depends_on),
        image="busybox:latest",
        command=["sh", "-c", _SCRIPT.format(seconds=seconds, what=what)],
        timeout_seconds=120,
        retry_policy=pb.RetryPolicy(max_attempts=2, retry_delay_seconds=1),
    )


def simple() -> list[pb.PipelineStage]:
    return [
        stage("build", "build", "compiled"),
        stage("test", "test", "tests passed", depends_on=("build",)),
        stage("deploy", "deploy", "deployed", depends_on=("test",)),
    ]


def parallel() -> list[pb.PipelineStage]:
    return [
        stage("lint", "test", "lint clean"),
        stage("unit-tests", "test", "unit tests passed", workers=2),
        stage("build-image", "build", "image built"),
        stage("security-scan", "test", "no findings"),
    ]


def full() -> list[pb.PipelineStage]:
    """Fan-out after checkout, sharded tests, fan-in before deploy."""
    return [
        stage("checkout", "custom", "sources ready", seconds=0.1),
        stage("build-backend", "build", "backend built", depends_on=("checkout",)),
        stage("build-frontend", "build", "frontend built", depends_on=("checkout",)),
        stage("lint", "test", "lint clean", depends_on=("checkout",), seconds=0.1),
        stage("unit-tests", "test", "unit tests passed", depends_on=("build-backend",), workers=3),
        stage("e2e-tests", "test", "e2e passed", depends_on=("build-backend", "build-frontend")),
        stage(
            "deploy-staging",
            "deploy",
            "staging updated",
            depends_on=("unit-tests", "e2e-tests", "lint"),
        ),
        stage("smoke-tests", "test", "staging healthy", depends_on=("deploy-staging",)),
    ]


def conditional() -> list[pb.PipelineStage]:
    """Deploys only a release (test-pipeline triggers none): deploy and the smoke tests
    after it are skipped, and the notice that nothing was deployed runs."""
    deploy = stage("deploy", "deploy", "deployed", depends_on=("build",))
    deploy.when = 'pipeline.triggered_by == "release"'
    notify = stage("notify", "custom", "not a release: nothing deployed", depends_on=("deploy",))
    notify.when = 'stages.deploy.status == "SKIPPED"'
    return [
        stage("build", "build", "compiled"),
        deploy,
        stage("smoke-tests", "test", "deployment healthy", depends_on=("deploy",)),
        notify,
    ]


def approval() -> list[pb.PipelineStage]:
    """Deploys once someone approves (test-pipeline -approve does; or ApproveStage)."""
    return [
        stage("build", "build", "compiled"),
        pb.PipelineStage(
            stage_id="approve-deploy", type="approval", depends_on=["build"], timeout_seconds=600
        ),
        stage("deploy", "deploy", "deployed", depends_on=("approve-deploy",)),
    ]


def cleanup() -> list[pb.PipelineStage]:
    """Cleanup stages run after the others whatever happened; the failure notice only
    when the pipeline failed, which it does not here."""
    teardown = stage("teardown", "cleanup", "the pipeline is $OTTO_PIPELINE_STATUS")
    notify = stage("notify-failure", "cleanup", "the pipeline failed")
    notify.when = 'pipeline.status == "FAILED"'
    return [
        stage("build", "build", "compiled"),
        stage("test", "test", "tests passed", depends_on=("build",)),
        teardown,
        notify,
    ]


def outputs() -> list[pb.PipelineStage]:
    """The build writes its version to OTTO_OUTPUTS; the tests read it from their
    environment, and the deploy runs only for the version the tests report back."""
    build = stage("build", "build", "compiled")
    build.command[-1] += '; echo "version=1.4.$OTTO_ATTEMPT" >> "$OTTO_OUTPUTS"'
    test = stage("test", "test", "tests passed", depends_on=("build",), workers=2)
    test.command[-1] += (
        '; echo "[$OTTO_STAGE_ID] testing $OTTO_OUTPUT_BUILD_VERSION"'
        '; echo "tested=$OTTO_OUTPUT_BUILD_VERSION" >> "$OTTO_OUTPUTS"'
    )
    deploy = stage("deploy", "deploy", "deployed", depends_on=("test",))
    deploy.when = "stages.test.outputs.tested.startsWith('1.4.')"
    deploy.command[-1] += '; echo "[$OTTO_STAGE_ID] deployed $OTTO_OUTPUT_TEST_TESTED"'
    return [build, test, deploy]


def matrix() -> list[pb.PipelineStage]:
    """Tests on every os and Python version: one shard per combination, each writing its
    own result key, merged into the stage's outputs for the report."""
    test = stage("test", "test", "tests passed", depends_on=("build",), workers=0)
    test.matrix.extend(
        [
            pb.MatrixAxis(name="os", values=["linux", "macos"]),
            pb.MatrixAxis(name="python", values=["3.11", "3.12", "3.13"]),
        ]
    )
    test.command[-1] += (
        '; echo "[$OTTO_STAGE_ID] on $OTTO_MATRIX_OS with Python $OTTO_MATRIX_PYTHON"'
        '; echo "${OTTO_MATRIX_OS}_py$(echo $OTTO_MATRIX_PYTHON | tr -d .)=passed"'
        ' >> "$OTTO_OUTPUTS"'
    )
    report = stage("report", "custom", "all combinations passed", depends_on=("test",))
    report.command[-1] += "; env | grep ^OTTO_OUTPUT_TEST_ | sort"
    return [stage("build", "build", "compiled"), test, report]


PIPELINES = {
    "simple": simple,
    "parallel": parallel,
    "full": full,
    "conditional": conditional,
    "approval": approval,
    "cleanup": cleanup,
    "outputs": outputs,
    "matrix": matrix,
}
