"""What the CLIs print: progress events, log lines and answers, as text or as JSON.

JSON uses protobuf's mapping with the proto's own field names (those a pipeline file
uses) and every field, set or not. Streams print one object a line, each saying what it
is: {"progress": PipelineProgress} or {"log": WorkerLogEntry}; single answers print the
message itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from ottoscaler.v1 import ottoscaler_pb2 as pb


def status_name(status: pb.StageStatus.ValueType) -> str:
    return pb.StageStatus.Name(status).removeprefix("STAGE_")


def describe(event: pb.PipelineProgress) -> str:
    who = event.stage_id or "pipeline"
    status = status_name(event.status)
    line = (
        f"{event.timestamp} {event.progress_percentage:3d}% {who:<16} {status:<10} {event.message}"
    )
    if event.worker_pod_names and event.stage_id:
        line += f" [{', '.join(event.worker_pod_names)}]"
    if event.outputs:
        line += " outputs: " + ", ".join(f"{k}={v}" for k, v in sorted(event.outputs.items()))
    if event.error_message:
        line += f" error: {event.error_message}"
    return line


def describe_line(entry: pb.WorkerLogEntry) -> str:
    stream = "!" if entry.source == "stderr" else "|"
    return f"{entry.timestamp}      {entry.worker_id} {stream} {entry.message}"


def as_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


@dataclass(frozen=True)
class Output:
    json: bool = False

    def progress(self, event: pb.PipelineProgress) -> None:
        self._print(describe(event), {"progress": as_dict(event)})

    def log_line(self, entry: pb.WorkerLogEntry) -> None:
        self._print(describe_line(entry), {"log": as_dict(entry)})

    def answer(self, text: str, message: Message) -> None:
        """A single answer: text, or the message as one indented JSON document."""
        print(json.dumps(as_dict(message), indent=2) if self.json else text, flush=True)

    def say(self, text: str) -> None:
        """Words for a person; JSON output has none."""
        if not self.json:
            print(text, flush=True)

    def _print(self, text: str, document: dict[str, Any]) -> None:
        print(json.dumps(document) if self.json else text, flush=True)
