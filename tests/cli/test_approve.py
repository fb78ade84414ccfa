"""`ottoscaler approve ID STAGE`: a user answers an approval stage from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.stack import Result, Stack, finished, run
from tests.cli.test_pipeline_verbs import started
from tests.waiting import eventually

TWO_GATES = """\
pipeline_id: {id}
stages:
  - {{stage_id: gate, type: approval}}
  - {{stage_id: second, type: approval}}
  - {{stage_id: deploy, depends_on: [gate, second]}}
"""


async def approve(stack: Stack, *argv: str, env: dict[str, str] | None = None) -> Result:
    return await run("ottoscaler", "approve", "--server", stack.address, *argv, env=env)


async def waiting(server: str, pipeline_id: str, stage_id: str) -> bool:
    """Whether `ottoscaler get` shows the stage waiting for approval."""
    got = await run("ottoscaler", "get", "--server", server, pipeline_id, "-o", "json")
    if got.code != 0:
        return False
    stage = next(s for s in json.loads(got.out)["stages"] if s["stage_id"] == stage_id)
    message: str = stage["message"]
    return stage["status"] == "STAGE_RUNNING" and message.startswith("waiting for approval")


async def test_approve_then_reject_and_a_second_answer_is_refused(
    stack: Stack, tmp_path: Path
) -> None:
    pipeline_id, submit = await started(stack, tmp_path, TWO_GATES)
    await eventually(lambda: waiting(stack.address, pipeline_id, "gate"), within=60)
    await eventually(lambda: waiting(stack.address, pipeline_id, "second"), within=60)

    approved = await approve(stack, pipeline_id, "gate", "--approver", "alice", "--comment", "ok")
    assert (approved.code, approved.out, approved.err) == (0, "stage gate approved by alice\n", "")

    again = await approve(stack, pipeline_id, "gate", "--reject", "--approver", "bob")
    assert again.code == 3, again
    assert again.err == (
        "error: FAILED_PRECONDITION: stage_id: stage 'gate' was already approved by 'alice'\n"
    )

    # Without --approver, the answer is the local user's.
    rejected = await approve(
        stack, pipeline_id, "second", "--reject", "--comment", "not today",
        env={"LOGNAME": "", "USER": "carol"},
    )  # fmt: skip
    assert (rejected.code, rejected.out) == (0, "stage second rejected by carol\n"), rejected

    result = await finished(submit)
    assert result.code == 1, result
    lines = result.out.splitlines()
    assert any(" gate             COMPLETED  approved by alice" in line for line in lines)
    assert any(
        " second           FAILED     rejected by carol error: rejected by carol: not today" in line
        for line in lines
    )
    assert any(" deploy           SKIPPED" in line for line in lines)
    assert lines[-1].startswith("pipeline failed")


async def test_json_output_is_the_answer(stack: Stack, tmp_path: Path) -> None:
    pipeline_id, submit = await started(stack, tmp_path, TWO_GATES)
    await eventually(lambda: waiting(stack.address, pipeline_id, "gate"), within=60)
    answer = await approve(stack, pipeline_id, "gate", "--approver", "alice", "-o", "json")
    assert answer.code == 0, answer
    assert json.loads(answer.out) == {"accepted": True, "message": "stage gate approved by alice"}
    cancel = await run("ottoscaler", "cancel", "--server", stack.address, pipeline_id)
    assert cancel.code == 0, cancel
    assert (await finished(submit)).code == 130


async def test_an_unknown_pipeline_exits_3_with_the_gateway_s_message(
    stack: Stack,
) -> None:
    unknown = await approve(stack, "no-such-pipeline", "gate")
    assert unknown.code == 3, unknown
    assert unknown.err == "error: NOT_FOUND: pipeline_id: no pipeline 'no-such-pipeline'\n"
