"""A stage's type as otto-handler's variant of the proto sends it: a varint on field 2.

otto-handler declares `PipelineStage.type` (field 2) as an enum StageType; this contract
has a string there. protobuf parses a varint on a string field as an unknown field, so
the type would be lost: this reads it back from the stage's unknown fields, the one
reader for every StageType (CLEANUP 5 makes a cleanup stage, APPROVAL 7 an approval one).
"""

from __future__ import annotations

from google.protobuf.unknown_fields import UnknownFieldSet

from ottoscaler.v1 import ottoscaler_pb2 as pb

# otto-handler's enum StageType, by number (proto/ottoscaler/v1/README.md, PipelineStage.type).
STAGE_TYPES = {
    1: "build",
    2: "test",
    3: "deploy",
    4: "setup",
    5: "cleanup",
    6: "notify",
    7: "approval",
    100: "custom",
}
_TYPE_FIELD = pb.PipelineStage.DESCRIPTOR.fields_by_name["type"].number
_VARINT = 0


def stage_type(stage: pb.PipelineStage) -> str:
    """The string type, else the enum's name; "custom" when neither says (UNSPECIFIED and
    numbers StageType does not know included)."""
    if stage.type:
        return stage.type
    fields = UnknownFieldSet(stage)
    for field in (fields[i] for i in range(len(fields))):
        if field.field_number == _TYPE_FIELD and field.wire_type == _VARINT:
            return STAGE_TYPES.get(int(field.data), "custom")
    return "custom"
