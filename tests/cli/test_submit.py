"""`ottoscaler submit FILE`: a pipeline of one's own from YAML or JSON, followed to its end."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.cli.stack import Result, Stack, run


def new_id() -> str:
    return f"cli-{uuid.uuid4().hex[:8]}"


PIPELINE = """\
pipeline_id: {id}
name: build and test
repository: otto/demo
commit_sha: "0123456789abcdef"
stages:
  - stage_id: build
    config: {{mock.lines: "3", mock.line_rate: "20"}}
  - stage_id: test
    depends_on: [build]
    worker_count: 2
    config: {{mock.lines: "2", mock.exit_code: "{exit_code}"}}
"""


def pipeline_file(tmp_path: Path, exit_code: int = 0, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(PIPELINE.format(id=new_id(), exit_code=exit_code))
    return path


async def submit(stack: Stack, *argv: str, stdin: str = "") -> Result:
    return await run("ottoscaler", "submit", "--server", stack.address, *argv, stdin=stdin)


async def test_a_yaml_pipeline_runs_and_exits_0_with_its_stages_printed(
    stack: Stack, tmp_path: Path
) -> None:
    result = await submit(stack, str(pipeline_file(tmp_path)))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].endswith(f"(2 stages) -> {stack.address}")
    assert any(" build            COMPLETED" in line for line in lines)
    assert any(" test             COMPLETED" in line for line in lines)
    assert "pipeline completed: 2/2 stages completed" in lines[-2]
    assert lines[-1] == "pipeline completed"


async def test_logs_are_printed_in_time_order_with_the_progress(
    stack: Stack, tmp_path: Path
) -> None:
    result = await submit(stack, str(pipeline_file(tmp_path)), "--logs")
    assert result.code == 0, result
    printed = result.out.splitlines()[1:-1]  # between the header and the outcome
    assert sum(" | line " in line for line in printed) == 3 + 2 * 2
    times = [line.split()[0] for line in printed]
    assert times == sorted(times)
    build_done = next(n for n, line in enumerate(printed) if "build            COMPLETED" in line)
    assert all(" | line " in printed[n] for n in range(build_done - 3, build_done))


async def test_a_failing_pipeline_exits_1_and_says_why_last(stack: Stack, tmp_path: Path) -> None:
    result = await submit(stack, str(pipeline_file(tmp_path, exit_code=3)))
    assert result.code == 1, result
    assert any(" test             FAILED" in line for line in result.out.splitlines())
    last = result.out.splitlines()[-1]
    assert last.startswith("pipeline failed: stage test: shard ") and "Error (exit 3)" in last


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "unknown.yaml",
            "pipeline_id: x\nstages:\n  - stage_id: a\n    imag: busybox\n",
            "unknown.yaml: stages[0].imag: unknown field; PipelineStage has stage_id, type,",
        ),
        (
            "number.yaml",
            "pipeline_id: x\nstages:\n  - stage_id: a\n    config: {mock.duration: 2}\n",
            "number.yaml: stages[0].config['mock.duration']: expected a string, got 2",
        ),
        (
            "bad-id.yaml",
            "pipeline_id: x\nstages:\n  - stage_id: Build!\n",
            "INVALID_ARGUMENT: stages[0].stage_id: 'Build!' must be at most 63 characters",
        ),
        (
            "typo.json",
            '{"pipeline_id": "x", "stages": [{"stage_id": "build"},'
            ' {"stage_id": "test", "depends_on": ["biuld"]}]}',
            "INVALID_ARGUMENT: stages[1].depends_on: unknown stage 'biuld'",
        ),
        ("missing.yaml", None, "missing.yaml: cannot read it: "),
    ],
)
async def test_an_invalid_file_exits_2_with_the_message(
    stack: Stack, tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    if text is not None:
        (tmp_path / name).write_text(text)
    result = await submit(stack, str(tmp_path / name))
    assert result.code == 2, result
    assert message in result.err


async def test_json_output_is_one_object_a_line(stack: Stack, tmp_path: Path) -> None:
    as_json = json.dumps(
        {
            "pipeline_id": new_id(),
            "stages": [{"stage_id": "build", "config": {"mock.lines": "1"}}],
        }
    )
    result = await submit(stack, "-", "--logs", "--output", "json", stdin=as_json)
    assert result.code == 0, result
    objects = [json.loads(line) for line in result.out.splitlines()]
    assert {key for o in objects for key in o} == {"progress", "log"}
    assert [o["log"]["message"] for o in objects if "log" in o] == ["line 1"]
    final = objects[-1]["progress"]
    assert (final["stage_id"], final["status"]) == ("", "STAGE_COMPLETED")


async def test_a_pipeline_run_again_prints_only_its_own_lines(stack: Stack, tmp_path: Path) -> None:
    path = pipeline_file(tmp_path)
    for _ in range(2):
        result = await submit(stack, str(path), "--logs")
        assert result.code == 0, result
        assert sum(" | line " in line for line in result.out.splitlines()) == 3 + 2 * 2
