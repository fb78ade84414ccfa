"""Hostile values through every public call: sizes at each limit and one past it, NUL,
a trailing newline, inf, NaN, 2**31-1, 2**63, negatives, colliding ids. Each call ends
within a bound with a status a client can act on (never INTERNAL or UNKNOWN), a refusal
names its field, and afterwards a normal pipeline still completes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import grpc
import pytest
from grpc import aio

from gateway.pipelines.wire import pipeline_from_wire
from gateway.pools.wire import agent_command, scale_up_from_wire
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.gateway.test_execute_pipeline import request, stage
from tests.pools.calls import new_task, scale_request
from workflows.base.checks import MAX_TEXT, Limits
from workflows.base.sizes import MAX_PAYLOAD_BYTES
from workflows.pipeline.models import PipelineSpec
from workflows.pipeline.placement import (
    EVENTS_PER_WORKER_RUN,
    HISTORY_EVENTS_BUDGET,
    worker_spec_bytes,
)
from workflows.pipeline.progress import (
    SNAPSHOT_BYTES_BUDGET,
    STAGE_STATE_BYTES,
    WORKER_NAME_BYTES,
)
from workflows.pipeline.validation import (
    MAX_RETRY_DELAY_SECONDS,
    MAX_TIMEOUT_SECONDS,
    request_bytes,
)
from workflows.pool.specs import POOL_BYTES_BUDGET, scale_up_bytes
from workflows.workers.spec import MAX_PENDING_TIMEOUT_SECONDS

Stub: TypeAlias = "pb_grpc.OttoscalerServiceAsyncStub"
Call: TypeAlias = Callable[[], Awaitable[grpc.StatusCode]]

CALL_SECONDS = 60.0  # the bound on every call: past it, the call hangs
# A client can act on these; INTERNAL and UNKNOWN say the server broke.
ACTIONABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
LABEL = 63  # a Kubernetes label value's length, the limit of every id
INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN = 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)
NUMBERS = ("inf", "-inf", "NaN", "1e309", str(INT32_MAX), str(2**63), "-1", "0x10", " 1")
LIMITS = Limits()
PAYLOAD_LIMIT = 2 * 1024 * 1024  # Temporal's, measured (workflows/base/sizes.py)
VALUE = LIMITS.max_map_value_bytes


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A followed pod that never appears is NOT_FOUND after a second, not a minute."""
    return settings.model_copy(
        update={"ottoscaler_data_dir": tmp_path, "log_pod_wait_seconds": 1.0}
    )


def around(limit: int) -> tuple[int, int, int]:
    return limit - 1, limit, limit + 1


def ids() -> Iterator[tuple[str, str]]:
    """Ids at and past the label limit, and ones no label value may be."""
    for n in around(LABEL):
        yield f"{n} characters", "i" * n
    yield from {
        "empty": "",
        "trailing newline": "id\n",
        "NUL": "i\0d",
        "leading dash": "-id",
        "non-ASCII": "idé",
        "path": "../../etc",
    }.items()


class Fuzz:
    """Runs hostile calls one by one and keeps what went wrong."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: dict[grpc.StatusCode, int] = {}

    async def run(self, case: str, field: str | tuple[str, ...], call: Call) -> None:
        """field: what a refusal's message starts with (one of them)."""
        try:
            code = await asyncio.wait_for(call(), CALL_SECONDS)
            details = ""
        except TimeoutError:
            self.problems.append(f"{case}: no answer within {CALL_SECONDS} s")
            return
        except aio.AioRpcError as err:
            code, details = err.code(), err.details() or ""
        self.seen[code] = self.seen.get(code, 0) + 1
        if code not in ACTIONABLE:
            self.problems.append(f"{case}: {code.name} {details[:300]}")
        elif code is grpc.StatusCode.INVALID_ARGUMENT and not details.startswith(field):
            self.problems.append(f"{case}: {details[:300]!r} names no field of {field!r}")


async def unary(call: Awaitable[Any]) -> grpc.StatusCode:
    await call
    return grpc.StatusCode.OK


def rpc(method: Callable[[Any], Any], req: Any) -> Call:
    """A unary call, or a server stream read to its end."""

    async def call() -> grpc.StatusCode:
        answer = method(req)
        if hasattr(answer, "__aiter__"):
            answer = _collect(answer)
        return await unary(answer)

    return call


def pipeline_call(stub: Stub, req: pb.PipelineRequest) -> Call:
    """The stream's first answer, which for an accepted pipeline says it runs (the workflow
    accepted it too); it is then cancelled and its stream read to its end, which must be OK."""

    async def call() -> grpc.StatusCode:
        stream = stub.ExecutePipeline(req)
        async for first in stream:
            assert (first.stage_id, first.status) == ("", pb.STAGE_RUNNING), first
            break
        await stub.CancelPipeline(pb.CancelPipelineRequest(pipeline_id=req.pipeline_id))
        async for _ in stream:
            pass
        return await stream.code()

    return call


def configured(key: str, value: str) -> pb.PipelineStage:
    s = stage("a")
    s.config[key] = value
    return s


def padded(
    req: pb.PipelineRequest, target: int, weigh: Callable[[PipelineSpec], int], per_char: int
) -> pb.PipelineRequest:
    """The last stage's config padded until `weigh` (which grows `per_char` bytes with each
    character of config) reaches `target`."""
    fill = req.stages[-1].config
    while (short := (target - weigh(pipeline_from_wire(req))) // per_char) > 0:
        key = f"PAD{len(fill)}"
        fill[key] = ""
        fill[key] = "p" * min(VALUE, short - (len(key) + 6))  # 6: ,"":"" around it
    return req


def large_request(target: int) -> pb.PipelineRequest:
    stages = []
    for n in range(3):
        s = stage(f"big-{n}")
        s.config.update({f"K{k}": "x" * 30_000 for k in range(16)})
        stages.append(s)
    return padded(request(*stages), target, request_bytes, 1)


def large_worker_spec(target: int) -> pb.PipelineRequest:
    s = stage("big")
    s.config.update({f"K{k}": "x" * 30_000 for k in range(25)})
    return padded(request(s), target, lambda spec: worker_spec_bytes(spec.stages[-1]), 2)


def pipeline_cases() -> Iterator[tuple[str, str, pb.PipelineRequest]]:
    for label, value in ids():
        req = request(stage("a"))
        req.pipeline_id = value
        yield f"pipeline_id {label}", "pipeline_id", req
        yield f"stage_id {label}", "stages[0].stage_id", request(stage(value))
    for first, second in (("Build", "build"), ("a_b", "a.b"), ("same", "same")):
        yield (
            f"stage ids {first}/{second}",
            "stages[1].stage_id",
            request(stage(first), stage(second)),
        )
    for field, most in MAX_TEXT.items():
        if field in ("reason", "request_id"):
            continue
        for n in around(most):
            req = request(stage("a"))
            setattr(req, field, "t" * n)
            yield f"{field} of {n} characters", field, req
        for label, text in (("NUL", "t\0t"), ("trailing newline", "t\n")):
            req = request(stage("a"))
            setattr(req, field, text)
            yield f"{field} {label}", field, req
    for count in (-1, 0, 10, 11, INT32_MAX, INT32_MIN):
        yield f"worker_count {count}", "stages[0].worker_count", request(stage("a", workers=count))
    for seconds in (-1, *around(MAX_TIMEOUT_SECONDS), INT32_MAX, INT32_MIN):
        s = stage("a")
        s.timeout_seconds = seconds
        yield f"timeout_seconds {seconds}", "stages[0].timeout_seconds", request(s)
    for attempts, delay in (
        (-1, 0),
        (INT32_MAX, 0),
        (INT32_MIN, 0),
        (2, -1),
        *((2, d) for d in around(MAX_RETRY_DELAY_SECONDS)),
        (2, INT32_MAX),
    ):
        s = stage("a")
        s.retry_policy.CopyFrom(pb.RetryPolicy(max_attempts=attempts, retry_delay_seconds=delay))
        yield f"retry {attempts} attempts {delay} s apart", "stages[0].retry_policy", request(s)
    for key in ("mock.duration", "mock.pending", "mock.lines", "mock.exit_code"):
        for number in NUMBERS:
            yield f"{key} {number!r}", "stages[0].config", request(configured(key, number))
    for key, limit in {
        "mock.duration": 604_800,
        "mock.lines": 1_000_000,
        "mock.exit_code": 255,
    }.items():
        for n in around(limit):
            yield f"{key} {n}", "stages[0].config", request(configured(key, str(n)))
    pending = "ottoscaler.pending_timeout_seconds"
    for text in (*NUMBERS, "9" * 30, *map(str, around(MAX_PENDING_TIMEOUT_SECONDS))):
        yield f"{pending} {text[:20]!r}", "stages[0].config", request(configured(pending, text))
    for n in around(VALUE):
        s = stage("a")
        s.config["BIG"] = "v" * n
        yield f"config value of {n} bytes", "stages[0].config", request(s)
    for n in around(LIMITS.max_map_entries):
        s = pb.PipelineStage(stage_id="a", config={f"K{k}": "" for k in range(n)})
        yield f"config of {n} entries", "stages[0].config", request(s)
    for label, config in (
        ("NUL key", {"K\0": "v"}),
        ("NUL value", {"K": "v\0"}),
        ("empty key", {"": "v"}),
    ):
        yield (
            f"config {label}",
            "stages[0].config",
            request(pb.PipelineStage(stage_id="a", config=config)),
        )
    for label, words in (("NUL", ["sh", "-c\0"]), ("trailing newline", ["sh\n"])):
        yield (
            f"command {label}",
            "stages[0].command",
            request(pb.PipelineStage(stage_id="a", command=words)),
        )
        yield f"args {label}", "stages[0].args", request(pb.PipelineStage(stage_id="a", args=words))
    for n in around(MAX_PAYLOAD_BYTES):
        yield f"request of {n} bytes", "request", large_request(n)
    for n in (MAX_PAYLOAD_BYTES - 2, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 2):
        yield f"worker spec of {n} bytes", "stages[0].config", large_worker_spec(n)
    for n in (LIMITS.max_stages, LIMITS.max_stages + 1):
        # Ten chains: a thousand independent stages take one workflow task near Temporal's
        # 2 s deadlock limit on a loaded 2-core machine.
        chains = (stage(f"s{k}", *([f"s{k - 10}"] if k >= 10 else [])) for k in range(n))
        yield f"{n} stages", "stages", request(*chains)
    for n in around(HISTORY_EVENTS_BUDGET // EVENTS_PER_WORKER_RUN):
        s = stage("a")
        s.retry_policy.max_attempts = n
        yield f"{n} attempts of one worker", "stages[0].retry_policy", request(s)
    # Four attempts of 1.4 MB each, allowed one by one, start together.
    together = [
        pb.PipelineStage(
            stage_id=f"big-{n}", worker_count=2, config={f"K{k}": "x" * 30_000 for k in range(11)}
        )
        for n in range(4)
    ]
    yield "stages at the size limit starting together", "", request(*together)
    # Past the snapshot every query answers with (at it, 7,000 workers would run).
    stages = SNAPSHOT_BYTES_BUDGET // (STAGE_STATE_BYTES + WORKER_NAME_BYTES * 10) + 1
    req = request(*(stage(f"s{k}", workers=10) for k in range(stages)))
    yield f"{stages} stages of 10 workers", "stages", req


def scale_cases(settings: Settings) -> Iterator[tuple[str, str, pb.ScaleRequest]]:
    for label, value in ids():
        yield f"task_id {label}", "task_id", scale_request(value, 1)
    for count in (-1, 0, 10, 11, INT32_MAX, INT32_MIN):
        yield f"worker_count {count}", "worker_count", scale_request(new_task(), count)
    for field in ("repository", "commit_sha", "triggered_by", "reason"):
        for n in around(MAX_TEXT[field]):
            req = scale_request(new_task(), 1)
            setattr(req, field, "t" * n)
            yield f"{field} of {n} characters", field, req
        req = scale_request(new_task(), 1)
        setattr(req, field, "t\0")
        yield f"{field} NUL", field, req
    for n in around(MAX_TEXT["request_id"]):
        yield (
            f"request_id of {n} characters",
            "metadata['request_id']",
            scale_request(new_task(), 1, "r" * n),
        )
    for number in NUMBERS:
        yield (
            f"mock.duration {number!r}",
            "build_config",
            scale_request(new_task(), 1, mock_duration=number),
        )
    for n in around(VALUE):
        yield (
            f"build_config value of {n} bytes",
            "build_config",
            scale_request(new_task(), 1, BIG="v" * n),
        )
    for n in around(LIMITS.max_map_entries):
        req = scale_request(new_task(), 1)
        req.build_config.update({f"K{k}": "" for k in range(n)})
        yield f"build_config of {n} entries", "build_config", req
        req = scale_request(new_task(), 1)
        req.metadata.update({f"K{k}": "" for k in range(n)})
        yield f"metadata of {n} entries", "metadata", req
    for past in (-1, 0, 1):
        yield (
            f"ScaleUp carrying {past:+} past the limit",
            "build_config",
            pool_sized(settings, past),
        )
    # Around Temporal's own limit of a payload: the update, each worker's spec.
    for n in (1_500_000, *around(PAYLOAD_LIMIT)):
        req = scale_request(new_task(), 1)
        req.build_config.update({f"K{k}": "x" * 30_000 for k in range(n // 30_000)})
        req.build_config["PAD"] = "p" * (n % 30_000)
        yield f"build_config of {n} bytes", "build_config", req


def pool_sized(settings: Settings, past: int) -> pb.ScaleRequest:
    """One worker whose ScaleUp and spec weigh the most a pool carries, plus `past` steps
    (a character of build_config weighs 3 bytes: in the request, the config, the env)."""
    req = scale_request(new_task(), 1, mock_duration="0")
    req.build_config.update({f"K{k}": "x" * 30_000 for k in range(11)})
    req.build_config["PAD"] = ""
    wanted = scale_up_from_wire(req, settings.otto_agent_image, agent_command(settings))
    room = (POOL_BYTES_BUDGET - scale_up_bytes(wanted, 1)) // 3
    req.build_config["PAD"] = "p" * (room + past)
    return req


async def a_normal_pipeline_completes(stub: Stub) -> None:
    events = await asyncio.wait_for(
        _collect(stub.ExecutePipeline(request(stage("a"), stage("b", "a")))), CALL_SECONDS
    )
    assert events[-1].status == pb.STAGE_COMPLETED


async def _collect(stream: Any) -> list[pb.PipelineProgress]:
    return [event async for event in stream]


async def test_execute_pipeline_never_breaks_on_hostile_requests(stub: Stub) -> None:
    fuzz = Fuzz()
    for case, field, req in pipeline_cases():
        await fuzz.run(case, field, pipeline_call(stub, req))
    # A pipeline id in use: a second request attaches to the running one.
    running = request(stage("a", duration="600"))
    other = request(stage("b"))
    other.pipeline_id = running.pipeline_id
    await fuzz.run("colliding pipeline ids", "", pipeline_call(stub, running))
    await fuzz.run("colliding pipeline ids, again", "", pipeline_call(stub, other))
    for n in around(MAX_TEXT["reason"]):
        cancel = pb.CancelPipelineRequest(pipeline_id=running.pipeline_id, reason="r" * n)
        await fuzz.run(
            f"cancel reason of {n} characters", "reason", rpc(stub.CancelPipeline, cancel)
        )
    for n in around(MAX_TEXT["triggered_by"]):
        again = pb.RetryPipelineRequest(pipeline_id=running.pipeline_id, triggered_by="t" * n)
        await fuzz.run(f"retry by {n} characters", "triggered_by", rpc(stub.RetryPipeline, again))
    assert not fuzz.problems, "\n".join(fuzz.problems)
    assert fuzz.seen[grpc.StatusCode.INVALID_ARGUMENT] and fuzz.seen[grpc.StatusCode.OK]
    await a_normal_pipeline_completes(stub)


async def test_pool_calls_never_break_on_hostile_requests(stub: Stub, settings: Settings) -> None:
    fuzz = Fuzz()
    for case, field, req in scale_cases(settings):
        await fuzz.run(f"ScaleUp {case}", field, rpc(stub.ScaleUp, req))
    task = new_task()
    same = [scale_request(task, 2, "once", mock_duration="0") for _ in range(3)]
    await fuzz.run(
        "ScaleUps repeating one request_id at once",
        "",
        lambda: unary(asyncio.gather(*(stub.ScaleUp(r) for r in same))),
    )
    done = await asyncio.wait_for(_collect(stub.ExecutePipeline(request(stage("a")))), CALL_SECONDS)
    pipeline = scale_request(done[-1].pipeline_id, 1)
    await fuzz.run("ScaleUp of a pipeline's id", "", rpc(stub.ScaleUp, pipeline))
    for label, value in ids():
        for target in (-1, 0, INT32_MAX, INT32_MIN):
            down = pb.ScaleRequest(task_id=value, worker_count=target)
            await fuzz.run(
                f"ScaleDown task_id {label} to {target}",
                ("task_id", "worker_count"),
                rpc(stub.ScaleDown, down),
            )
        for status in ("", "RUNNING", "running\n", "r\0", "x" * 100_000):
            ask = pb.WorkerStatusRequest(task_id=value, worker_pod_name=value, status_filter=status)
            await fuzz.run(
                f"GetWorkerStatus {label} {status[:10]!r}",
                "status_filter",
                rpc(stub.GetWorkerStatus, ask),
            )
    assert not fuzz.problems, "\n".join(fuzz.problems)
    await a_normal_pipeline_completes(stub)


async def test_stream_worker_logs_never_breaks_on_hostile_requests(stub: Stub) -> None:
    done = await asyncio.wait_for(_collect(stub.ExecutePipeline(request(stage("a")))), CALL_SECONDS)
    pipeline_id = done[-1].pipeline_id
    fuzz = Fuzz()
    for label, value in ids():
        for field in ("pipeline_id", "task_id", "worker_pod_name", "stage_id"):
            for follow in (False, True):
                ask = pb.WorkerLogsRequest(follow=follow)
                setattr(ask, field, value)
                if field == "stage_id":
                    ask.pipeline_id = pipeline_id
                await fuzz.run(
                    f"StreamWorkerLogs {field} {label} follow={follow}",
                    (field, "WorkerLogsRequest"),
                    rpc(stub.StreamWorkerLogs, ask),
                )
    for sequence in (-1, 0, INT64_MAX, INT64_MIN):
        for follow in (False, True):
            ask = pb.WorkerLogsRequest(
                pipeline_id=pipeline_id, follow=follow, from_sequence=sequence
            )
            await fuzz.run(
                f"StreamWorkerLogs from {sequence} follow={follow}",
                "from_sequence",
                rpc(stub.StreamWorkerLogs, ask),
            )
    assert not fuzz.problems, "\n".join(fuzz.problems)
    await a_normal_pipeline_completes(stub)
