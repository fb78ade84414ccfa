"""Replays recorded workflow histories against the current workflow code.

A replay that diverges means a code change would break running pipelines: such a
change needs `workflow.patched()` instead. Histories come from files (JSON from
`temporal workflow show --output json` or the Web UI's download) or from a server by
workflow id; a pipeline's stage children are replayed with it. Encrypted payloads are
decrypted with the payload keys given; without the right one the replay fails saying so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError
from temporalio.worker import Replayer

from gateway.temporal.client import WORKFLOWS
from gateway.temporal.codec import EncryptionCodec, PayloadKeyMissing, data_converter


class HistoryUnavailable(Exception):
    """A history that cannot be had, said in one line: an unknown workflow, no server."""


@dataclass(frozen=True)
class ReplayOutcome:
    source: str
    error: str  # empty when the replay matched


def replayer(keys: Sequence[bytes] = ()) -> Replayer:
    """keys: the payload keys (Settings.payload_keys) the histories may be encrypted with."""
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter(EncryptionCodec(keys)))


def _payloads(message: Message) -> Iterator[Payload]:
    """Every payload inside a history's message, however deep."""
    if isinstance(message, Payload):
        yield message
        return
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = value.values()
        else:
            values = value if field.is_repeated else [value]
        for inner in values:
            if isinstance(inner, Message):
                yield from _payloads(inner)


def _undecodable(history: WorkflowHistory, keys: Sequence[bytes]) -> str:
    """Why the history's payloads cannot be decrypted with these keys; empty if they can."""
    codec = EncryptionCodec(keys)
    for event in history.events:
        try:
            codec.opened(_payloads(event))
        except PayloadKeyMissing as missing:
            return f"{type(missing).__name__}: {missing}"
    return ""


async def replay(
    history: WorkflowHistory, source: str, keys: Sequence[bytes] = ()
) -> ReplayOutcome:
    undecodable = _undecodable(history, keys)
    if undecodable:
        return ReplayOutcome(source, undecodable)
    result = await replayer(keys).replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    return ReplayOutcome(source, f"{type(failure).__name__}: {failure}" if failure else "")


def history_from_file(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def child_executions(history: WorkflowHistory) -> list[tuple[str, str]]:
    """(workflow id, run id) of every child the history started."""
    started = EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED
    return [
        (e.workflow_id, e.run_id)
        for e in (
            event.child_workflow_execution_started_event_attributes.workflow_execution
            for event in history.events
            if event.event_type == started
        )
    ]


async def fetch_with_children(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The workflow's latest run and, recursively, every child it started."""
    histories = [await client.get_workflow_handle(workflow_id).fetch_history()]
    for child_id, run_id in child_executions(histories[0]):
        child = await client.get_workflow_handle(child_id, run_id=run_id).fetch_history()
        histories.append(child)
    return histories


async def replay_workflow_id(
    client: Client, workflow_id: str, keys: Sequence[bytes] = ()
) -> list[ReplayOutcome]:
    try:
        histories = await fetch_with_children(client, workflow_id)
    except RPCError as error:  # "workflow not found for ID: …", or the server went away
        raise HistoryUnavailable(
            f"{error.message} (namespace {client.namespace} at "
            f"{client.service_client.config.target_host})"
        ) from error
    return [await replay(history, history.workflow_id, keys) for history in histories]
