"""otto-handler's StageType, a varint on the string field `type`, read back by its number."""

from __future__ import annotations

import pytest

from gateway.pipelines.stage_type import STAGE_TYPES, stage_type
from ottoscaler.v1 import ottoscaler_pb2 as pb


def sent_as_enum(number: int) -> pb.PipelineStage:
    """A stage as otto-handler's proto encodes it: field 2 (tag 0x10) a varint."""
    varint = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        varint.append(low | (0x80 if number else 0))
        if not number:
            break
    wire = pb.PipelineStage(stage_id="s").SerializeToString() + bytes([0x10]) + bytes(varint)
    return pb.PipelineStage.FromString(wire)


@pytest.mark.parametrize(("number", "name"), sorted(STAGE_TYPES.items()))
def test_each_enum_value_reads_as_its_name(number: int, name: str) -> None:
    assert stage_type(sent_as_enum(number)) == name


def test_unspecified_and_unknown_numbers_are_custom() -> None:
    assert stage_type(sent_as_enum(0)) == "custom"
    assert stage_type(sent_as_enum(42)) == "custom"
    assert stage_type(pb.PipelineStage(stage_id="s")) == "custom"


def test_a_string_type_is_kept() -> None:
    assert stage_type(pb.PipelineStage(stage_id="s", type="approval")) == "approval"
