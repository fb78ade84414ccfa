"""The README's own pipelines: hello.yaml runs with `ottoscaler submit` as shown, and its
grpcurl JSON is the same request; release.yaml runs as shown, approved (or rejected) with
`ottoscaler approve` once its gate waits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import json_format

from gateway.app import Running
from gateway.cli.pipeline_file import load_request
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.cli.stack import Result, finished, run, start
from tests.cli.test_approve import waiting
from tests.waiting import eventually

README = (Path(__file__).parents[2] / "README.md").read_text()


def pipeline_file(tmp_path: Path, name: str = "hello.yaml") -> Path:
    text = re.search(rf"```yaml\n# {re.escape(name)}\n(.*?)```", README, re.DOTALL)
    assert text is not None
    path = tmp_path / name
    path.write_text(text.group(1))
    return path


def test_the_grpcurl_json_is_the_same_request(tmp_path: Path) -> None:
    body = re.search(r"ExecutePipeline <<'END'\n(.*?)\nEND\n", README, re.DOTALL)
    assert body is not None
    assert json_format.Parse(body.group(1), pb.PipelineRequest()) == load_request(
        str(pipeline_file(tmp_path))
    )


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_the_pipeline_file_runs_as_shown(ottoscaler: Running, tmp_path: Path) -> None:
    server = f"127.0.0.1:{ottoscaler.grpc_port}"
    result = await run(
        "ottoscaler", "submit", str(pipeline_file(tmp_path)), "--logs", "--server", server
    )
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == f"pipeline hello (2 stages) -> {server}"
    printed = [line.split(" | ")[1] for line in lines if " | " in line]
    assert printed[:2] == ["building otto/demo", "built"]
    assert sorted(printed[2:]) == ["shard 0 of 2 passed", "shard 1 of 2 passed"]
    assert lines[-1] == "pipeline completed"


async def release_answered(server: str, tmp_path: Path, *answer: str) -> tuple[Result, Result]:
    """`ottoscaler submit release.yaml --logs`, and once its gate waits, `ottoscaler approve
    release gate` as user alice with the answer's flags: both CLIs' results."""
    path = str(pipeline_file(tmp_path, "release.yaml"))
    submit = await start("ottoscaler", "submit", path, "--logs", "--server", server)
    await eventually(lambda: waiting(server, "release", "gate"), within=120)
    approve = await run(
        "ottoscaler", "approve", "release", "gate", *answer, "--server", server,
        env={"LOGNAME": "", "USER": "alice"},
    )  # fmt: skip
    return approve, await finished(submit)


def printed(result: Result) -> list[str]:
    """The workers' lines, without time and worker."""
    return [line.split(" | ")[1] for line in result.out.splitlines() if " | " in line]


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_the_release_pipeline_runs_as_shown_once_approved(
    ottoscaler: Running, tmp_path: Path
) -> None:
    server = f"127.0.0.1:{ottoscaler.grpc_port}"
    approve, result = await release_answered(server, tmp_path)
    assert (approve.code, approve.out) == (0, "stage gate approved by alice\n"), approve
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0] == f"pipeline release (5 stages) -> {server}"
    workers = printed(result)
    assert workers[0] == "built 1.4.2"
    assert sorted(workers[1:5]) == [
        "linux py3.12: 1.4.2 passed",
        "linux py3.13: 1.4.2 passed",
        "mac py3.12: 1.4.2 passed",
        "mac py3.13: 1.4.2 passed",
    ]
    assert workers[5:] == ["deploying 1.4.2, approved by alice", "release COMPLETED"]
    assert "pipeline completed: 5/5 stages completed" in lines[-2]
    assert lines[-1] == "pipeline completed"


@pytest.mark.parametrize("runtime_kind", [RuntimeKind.LOCAL])
async def test_the_release_pipeline_rejected_skips_deploy_and_notifies(
    ottoscaler: Running, tmp_path: Path
) -> None:
    server = f"127.0.0.1:{ottoscaler.grpc_port}"
    approve, result = await release_answered(server, tmp_path, "--reject")
    assert (approve.code, approve.out) == (0, "stage gate rejected by alice\n"), approve
    assert result.code == 1, result
    assert printed(result)[5:] == ["release FAILED"]
    assert any(" deploy           SKIPPED" in line for line in result.out.splitlines())
    assert result.out.splitlines()[-1].startswith("pipeline failed")
