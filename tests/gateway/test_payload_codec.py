"""OTTOSCALER_PAYLOAD_KEY: a pipeline runs with every payload encrypted in Temporal,
`ottoscaler replay` decodes with the key (an older one too) and fails saying so without,
and the codec endpoint encodes and decodes for the Web UI."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from temporalio.client import Client

from gateway.app import Running
from gateway.settings import Settings
from ottoscaler.v1 import ottoscaler_pb2 as pb
from ottoscaler.v1 import ottoscaler_pb2_grpc as pb_grpc
from tests.logs.pipelines import collect, pipeline

KEY = base64.b64encode(bytes(range(32))).decode()
NEWER_KEY = base64.b64encode(bytes(range(100, 132))).decode()
MARKER = "config-value-7d1f0b"
OTTOSCALER = str(Path(sys.executable).parent / "ottoscaler")
UI = "http://localhost:8233"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ottoscaler_payload_key": SecretStr(KEY), "codec_port": 0})


def payloads(node: Any) -> Iterator[dict[str, Any]]:
    """Every payload of a history's JSON, search attributes aside (Temporal indexes them)."""
    if isinstance(node, dict):
        if set(node) >= {"metadata", "data"}:
            yield node
            return
        for key, value in node.items():
            if key != "searchAttributes":
                yield from payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from payloads(value)


async def replay_cli(history: Path, key: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTTOSCALER_PAYLOAD_KEY")}
    if key is not None:
        env["OTTOSCALER_PAYLOAD_KEY"] = key
    process = await asyncio.create_subprocess_exec(
        OTTOSCALER, "replay", "--history", str(history), stdout=asyncio.subprocess.PIPE, env=env
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    verdicts = [line for line in out.decode().splitlines() if line.startswith(("ok  ", "FAIL  "))]
    return process.returncode, "\n".join(verdicts)


async def temporal_show(client: Client, workflow_id: str, codec_endpoint: str) -> str:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "temporal"),
        "workflow",
        "show",
        "--workflow-id",
        workflow_id,
        "--address",
        client.service_client.config.target_host,
        "--codec-endpoint",
        codec_endpoint,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    return out.decode()


async def test_an_encrypted_pipeline_completes_and_replays_only_with_its_key(
    stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client, ottoscaler: Running, tmp_path: Path
) -> None:
    stage = pb.PipelineStage(stage_id="build", config={"mock.lines": "2", "MARKER": MARKER})
    request = pipeline(stage)

    progress = await collect(stub.ExecutePipeline(request))

    assert progress[-1].status == pb.STAGE_COMPLETED
    handle = client.get_workflow_handle(f"pipeline-{request.pipeline_id}")
    history = await handle.fetch_history()  # raw: this client has no key
    raw = json.loads(history.to_json())
    found = list(payloads(raw))
    assert len(found) > 5
    for payload in found:
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
        data = base64.b64decode(payload.get("data", ""))
        assert MARKER.encode() not in data and b'"stage_id"' not in data
    saved = tmp_path / "pipeline.json"
    saved.write_text(history.to_json())

    rotated = await replay_cli(saved, f"{NEWER_KEY},{KEY}")  # the old key still decrypts
    without = await replay_cli(saved, None)
    shown = await temporal_show(client, handle.id, f"http://127.0.0.1:{ottoscaler.codec_port}")

    assert rotated == (0, f"ok  {saved}")
    code, verdict = without
    assert code == 1 and verdict.startswith(f"FAIL  {saved}")
    assert "is encrypted with key id" in verdict and "OTTOSCALER_PAYLOAD_KEY" in verdict
    # The temporal CLI decoded the spec through the codec endpoint.
    decoded = [base64.b64decode(p.get("data", "")) for p in payloads(json.loads(shown))]
    assert any(MARKER.encode() in data for data in decoded)


async def test_a_failed_pipelines_failure_is_encrypted_and_still_reported(
    stub: pb_grpc.OttoscalerServiceAsyncStub, client: Client
) -> None:
    request = pipeline(pb.PipelineStage(stage_id="build", config={"mock.exit_code": "3"}))

    progress = await collect(stub.ExecutePipeline(request))

    assert "Error (exit 3)" in progress[-1].error_message  # the gateway holds the key
    handle = client.get_workflow_handle(f"pipeline-{request.pipeline_id}")
    raw = json.loads((await handle.fetch_history()).to_json())
    [failed] = [e for e in raw["events"] if "workflowExecutionFailedEventAttributes" in e]
    failure = failed["workflowExecutionFailedEventAttributes"]["failure"]
    assert failure["message"] == "Encoded failure" and "stackTrace" not in failure
    sealed = failure["encodedAttributes"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert b"exit 3" not in base64.b64decode(sealed["data"])


def _post(port: int, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Origin": UI},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read()), answer.headers["Access-Control-Allow-Origin"]


def _preflight(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/decode", headers={"Origin": UI}, method="OPTIONS"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.headers["Access-Control-Allow-Headers"])


async def test_the_codec_endpoint_round_trips_a_payload_for_the_web_ui(
    ottoscaler: Running,
) -> None:
    port = ottoscaler.codec_port
    assert port is not None
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps({"stage_id": MARKER}).encode()).decode(),
    }

    encoded, origin = await asyncio.to_thread(_post, port, "/encode", {"payloads": [plain]})
    decoded, _ = await asyncio.to_thread(_post, port, "/decode", encoded)
    allowed_headers = await asyncio.to_thread(_preflight, port)

    [sealed] = encoded["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert MARKER.encode() not in base64.b64decode(sealed["data"])
    assert decoded == {"payloads": [plain]}
    assert origin == UI and allowed_headers == "content-type,x-namespace"


def test_a_bad_payload_key_stops_the_start_naming_its_place_never_its_value(
    tmp_path: Path,
) -> None:
    short = base64.b64encode(b"too short").decode()
    with pytest.raises(ValidationError) as refused:
        Settings(ottoscaler_payload_key=f"{KEY},{short}")
    assert "OTTOSCALER_PAYLOAD_KEY: key 2 of 2 is not base64 of 16, 24 or 32 bytes" in str(
        refused.value
    )
    assert short not in str(refused.value) and KEY not in str(refused.value)
    key_file = tmp_path / "payload.key"
    key_file.write_text(f"{NEWER_KEY},{KEY}\n")
    assert Settings(ottoscaler_payload_key_file=key_file).payload_keys == [
        base64.b64decode(NEWER_KEY),
        base64.b64decode(KEY),
    ]
