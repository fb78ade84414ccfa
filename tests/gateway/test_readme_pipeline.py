"""The README's own pipeline: its file runs with `ottoscaler submit` as shown, and its
grpcurl JSON is the same request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import json_format

from gateway.app import Running
from gateway.cli.pipeline_file import load_request
from gateway.settings import RuntimeKind
from ottoscaler.v1 import ottoscaler_pb2 as pb
from tests.cli.stack import run

README = (Path(__file__).parents[2] / "README.md").read_text()


def pipeline_file(tmp_path: Path) -> Path:
    text = re.search(r"```yaml\n# hello.yaml\n(.*?)```", README, re.DOTALL)
    assert text is not None
    path = tmp_path / "hello.yaml"
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
