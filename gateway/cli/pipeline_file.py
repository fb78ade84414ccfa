"""A pipeline file: YAML or JSON with the fields of PipelineRequest, read into one.

Field names are the proto's (`stage_id`; protobuf's JSON names such as `stageId` work
too), read by protobuf's json_format. Before it, a walk over the file names the path of
an unknown field or of a value of the wrong kind (`stages[0].config['mock.duration']:
expected a string, got 2`), which YAML's unquoted numbers make easy to write and
json_format would report without the path. What the values mean is the server's to check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from ottoscaler.v1 import ottoscaler_pb2 as pb

_INTEGERS = {FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64}


class PipelineFileError(Exception):
    """The file cannot be read as a PipelineRequest; the message says where and why."""


def _kind(value: object) -> str:
    return "nothing" if value is None else f"{value!r}"


def _check_scalar(value: object, field: FieldDescriptor, where: str) -> None:
    if field.type == FieldDescriptor.TYPE_STRING and not isinstance(value, str):
        raise PipelineFileError(f"{where}: expected a string, got {_kind(value)} (quote it)")
    if field.type in _INTEGERS and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise PipelineFileError(f"{where}: expected a whole number, got {_kind(value)}")


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _check_value(value: object, field: FieldDescriptor, where: str) -> None:
    if field.message_type is None:
        _check_scalar(value, field, where)
    elif _is_map(field):
        if not isinstance(value, dict):
            raise PipelineFileError(f"{where}: expected a mapping, got {_kind(value)}")
        value_field = field.message_type.fields_by_name["value"]
        for key, item in value.items():
            _check_value(item, value_field, f"{where}[{key!r}]")
    else:
        check_message(value, field.message_type, where)


def check_message(data: object, descriptor: Descriptor, path: str = "") -> dict[str, object]:
    """data, once it is sure to hold only descriptor's fields with values of their kind;
    else PipelineFileError at the first that is not."""
    if not isinstance(data, dict):
        what = path or "the file"
        raise PipelineFileError(
            f"{what}: expected a mapping of {descriptor.name} fields, got {_kind(data)}"
        )
    fields = {f.name: f for f in descriptor.fields} | {f.json_name: f for f in descriptor.fields}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            names = ", ".join(f.name for f in descriptor.fields)
            raise PipelineFileError(f"{where}: unknown field; {descriptor.name} has {names}")
        if _is_map(field) or not field.is_repeated:
            _check_value(value, field, where)
        elif not isinstance(value, list):
            raise PipelineFileError(f"{where}: expected a list, got {_kind(value)}")
        else:
            for index, item in enumerate(value):
                _check_value(item, field, f"{where}[{index}]")
    return data


def _parse(text: str, source: str) -> object:
    try:
        if source.endswith(".json"):
            return json.loads(text)
        # YAML reads JSON too, so stdin may be either.
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        kind = "JSON" if source.endswith(".json") else "YAML"
        raise PipelineFileError(f"not valid {kind}: {err}") from err


def load_request(source: str) -> pb.PipelineRequest:
    """The request in the file at source ('-': standard input)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise PipelineFileError(f"cannot read it: {err}") from err
    fields = check_message(_parse(text, source), pb.PipelineRequest.DESCRIPTOR)
    try:
        return json_format.ParseDict(fields, pb.PipelineRequest())
    except json_format.ParseError as err:
        raise PipelineFileError(str(err)) from err
