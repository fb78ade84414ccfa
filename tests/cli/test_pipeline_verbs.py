"""list, get, watch, logs, cancel and retry, run as a CI user runs them."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from tests.cli.stack import Result, Stack, finished, run, start
from tests.cli.test_submit import new_id
from tests.waiting import eventually

SLOW = "pipeline_id: {id}\nstages:\n  - {{stage_id: slow, config: {{mock.duration: '120'}}}}\n"
FLAKY = """\
pipeline_id: {id}
stages:
  - {{stage_id: build, config: {{mock.lines: "2"}}}}
  - {{stage_id: test, depends_on: [build], config: {{mock.lines: "1", mock.exit_code: "1"}}}}
"""


async def ottoscaler(stack: Stack, verb: str, *argv: str) -> Result:
    return await run("ottoscaler", verb, "--server", stack.address, *argv)


async def submitted(stack: Stack, tmp_path: Path, text: str) -> tuple[str, Result]:
    pipeline_id, submit = await started(stack, tmp_path, text)
    return pipeline_id, await finished(submit)


async def started(
    stack: Stack, tmp_path: Path, text: str
) -> tuple[str, asyncio.subprocess.Process]:
    """`ottoscaler submit` of text (its {id} a new one), running: the id and the process."""
    pipeline_id = new_id()
    path = tmp_path / f"{pipeline_id}.yaml"
    path.write_text(text.format(id=pipeline_id))
    return pipeline_id, await start("ottoscaler", "submit", "--server", stack.address, str(path))


async def running(stack: Stack, pipeline_id: str) -> bool:
    got = await ottoscaler(stack, "get", pipeline_id, "-o", "json")
    return got.code == 0 and json.loads(got.out)["stages"][0]["worker_pod_names"] != []


async def test_list_get_and_logs_show_a_finished_pipeline(stack: Stack, tmp_path: Path) -> None:
    pipeline_id, submit = await submitted(stack, tmp_path, FLAKY)
    assert submit.code == 1, submit

    async def listed() -> str:
        answer = await ottoscaler(stack, "list", "--limit", "1000")
        return next((line for line in answer.out.splitlines() if pipeline_id in line), "")

    assert (await eventually(listed, within=30)).split()[1] == "FAILED"
    as_json = json.loads((await ottoscaler(stack, "list", "-o", "json")).out)
    mine = [p for p in as_json["pipelines"] if p["pipeline_id"] == pipeline_id]
    assert [p["status"] for p in mine] == ["STAGE_FAILED"]

    got = await ottoscaler(stack, "get", pipeline_id)
    assert got.code == 0, got
    lines = got.out.splitlines()
    assert lines[0].startswith(f"pipeline {pipeline_id}: FAILED, 100% of stages finished (run ")
    assert lines[2].startswith("error: stage test: shard 0 of 1: Error (exit 1)")
    assert [line.split()[:2] for line in lines[4:]] == [["build", "COMPLETED"], ["test", "FAILED"]]
    snapshot = json.loads((await ottoscaler(stack, "get", pipeline_id, "-o", "json")).out)
    assert [s["status"] for s in snapshot["stages"]] == ["STAGE_COMPLETED", "STAGE_FAILED"]

    logs = await ottoscaler(stack, "logs", pipeline_id)
    assert logs.code == 0, logs
    assert [line.split(" | ")[1] for line in logs.out.splitlines()] == [
        "line 1",
        "line 2",
        "line 1",
    ]
    only_test = await ottoscaler(stack, "logs", pipeline_id, "--stage", "test", "-f", "-o", "json")
    entries = [json.loads(line)["log"] for line in only_test.out.splitlines()]
    assert [(e["message"], f"{pipeline_id}-test-" in e["worker_id"]) for e in entries] == [
        ("line 1", True)
    ]


async def test_retry_runs_only_what_did_not_complete(stack: Stack, tmp_path: Path) -> None:
    pipeline_id, submit = await submitted(stack, tmp_path, FLAKY)
    assert submit.code == 1, submit
    retry = await ottoscaler(stack, "retry", pipeline_id)
    assert retry.code == 1, retry
    build = [line for line in retry.out.splitlines() if " build " in line]
    assert [line.split(maxsplit=4)[3:] for line in build] == [
        ["COMPLETED", "reused from the previous run"]
    ]
    assert any(" test             FAILED" in line for line in retry.out.splitlines())


async def test_watch_and_logs_follow_until_cancel_stops_the_pipeline(
    stack: Stack, tmp_path: Path
) -> None:
    pipeline_id, submit = await started(stack, tmp_path, SLOW)
    await eventually(lambda: running(stack, pipeline_id), within=30)
    watch = await start("ottoscaler", "watch", "--server", stack.address, pipeline_id)
    follow = await start("ottoscaler", "logs", "--server", stack.address, pipeline_id, "-f")

    # Ctrl-C stops following, not the pipeline.
    interrupted = await start("ottoscaler", "watch", "--server", stack.address, pipeline_id)
    assert interrupted.stdout is not None
    assert await asyncio.wait_for(interrupted.stdout.readline(), 60)  # it is following
    interrupted.send_signal(signal.SIGINT)
    stopped = await finished(interrupted)
    assert stopped.code == 130, stopped
    assert stopped.err.startswith("interrupted; a pipeline goes on")
    assert await running(stack, pipeline_id)

    cancel = await ottoscaler(stack, "cancel", pipeline_id)
    assert cancel.code == 0, cancel
    assert cancel.out == f"pipeline {pipeline_id}: cancelling, its workers are being deleted\n"
    for process in (submit, watch):
        result = await finished(process)
        assert result.code == 130, result
        lines = result.out.splitlines()
        assert "CANCELLED  pipeline cancelled: requested with ottoscaler cancel" in lines[-2]
        assert lines[-1] == "pipeline cancelled"
    assert (await finished(follow)).code == 0
    again = await ottoscaler(stack, "cancel", pipeline_id)
    assert (again.code, again.out) == (1, f"pipeline {pipeline_id} is already canceled\n")


async def test_a_cancel_without_a_reason_reads_cancelled_once(stack: Stack, tmp_path: Path) -> None:
    pipeline_id, submit = await started(stack, tmp_path, SLOW)
    await eventually(lambda: running(stack, pipeline_id), within=30)
    temporal = await run(
        "temporal", "workflow", "cancel", "--address", stack.temporal_address,
        "-w", f"pipeline-{pipeline_id}",
    )  # fmt: skip
    assert temporal.code == 0, temporal
    result = await finished(submit)
    assert result.code == 130, result
    assert "slow             CANCELLED  cancelled [" in result.out
    assert "pipeline         CANCELLED  pipeline cancelled\n" in result.out


async def test_an_unknown_pipeline_exits_3_with_the_gateway_s_message(stack: Stack) -> None:
    for verb in ("get", "watch", "logs", "cancel", "retry"):
        result = await ottoscaler(stack, verb, "no-such-pipeline")
        assert result.code == 3, (verb, result)
        assert result.err.startswith("error: NOT_FOUND: pipeline_id: no pipeline "), verb
        assert result.err.endswith(" 'no-such-pipeline'\n"), verb


async def test_retry_of_a_completed_pipeline_is_refused(stack: Stack, tmp_path: Path) -> None:
    pipeline_id, submit = await submitted(
        stack, tmp_path, "pipeline_id: {id}\nstages: [{{stage_id: only}}]\n"
    )
    assert submit.code == 0, submit
    retry = await ottoscaler(stack, "retry", pipeline_id)
    assert retry.code == 3
    assert "FAILED_PRECONDITION: pipeline_id: pipeline" in retry.err
    assert "completed; nothing to retry" in retry.err


async def test_the_gateway_s_address_may_come_from_the_environment(stack: Stack) -> None:
    listed = await run("ottoscaler", "list", env={"OTTOSCALER_SERVER": stack.address})
    assert listed.code == 0, listed
    assert listed.out.startswith(("PIPELINE ", "no pipelines"))


def test_up_prints_the_log_dir_it_uses(stack: Stack) -> None:
    settings = stack.log.read_text()
    assert f"OTTOSCALER_LOG_DIR={stack.data_dir / 'logs'}\n" in settings
    assert "=None" not in settings
