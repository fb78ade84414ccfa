"""Stage conditions: a CEL expression (`when`) over the pipeline and the stage's dependencies.

cel-python is a pure-Python CEL interpreter: evaluating an expression reads no clock, no
file and no randomness, so the workflow evaluates it itself, deterministically, once the
stage's dependencies have ended. Submit-time checks (check_condition) find what can be
known then: a syntax error, a name that is neither `pipeline` nor `stages`, and a stage
that is not one of the stage's dependencies, each with its position in the expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import celpy
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.celtypes import BoolType, StringType
from celpy.evaluation import CELEvalError
from lark import Token, Tree

from workflows.base.checks import SpecError
from workflows.pipeline.models import PipelineSpec, StageSpec, StageStatus

MAX_WHEN_CHARS = 4096
_VARIABLES = frozenset({"pipeline", "stages"})
# CEL's macros bind their first argument as a variable inside the second.
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_MAX_ERROR_CHARS = 200

# Parsing builds nothing per call worth keeping; one environment serves every stage.
_ENV = celpy.Environment()


@dataclass(frozen=True)
class Position:
    line: int
    column: int

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}"


class ConditionError(ValueError):
    """The expression cannot run; str() says what and where."""


def check_condition(field: str, stage: StageSpec) -> None:
    """Raises SpecError (field `...when`) for an expression that can never run right."""
    when = stage.when
    of = f"of stage {stage.stage_id!r}"
    if len(when) > MAX_WHEN_CHARS:
        raise SpecError(field, f"has {len(when)} characters, at most {MAX_WHEN_CHARS}")
    try:
        tree = _ENV.compile(when)
    except CELParseError as err:
        at = Position(getattr(err, "line", 1) or 1, getattr(err, "column", 1) or 1)
        raise SpecError(field, f"{when!r} {of} is not valid CEL at {at}") from err
    bound = _bound_names(tree)
    for name, at in _free_names(tree):
        if name not in _VARIABLES and name not in bound:
            raise SpecError(
                field,
                f"{when!r} {of} names {name!r} at {at}; only `pipeline` and `stages` are known",
            )
    for stage_id, at in _stage_references(tree):
        if stage_id is None:
            raise SpecError(
                field, f"{when!r} {of} indexes `stages` at {at} with no stage id literal"
            )
        if stage_id not in stage.depends_on:
            raise SpecError(
                field,
                f"{when!r} {of} names stage {stage_id!r} at {at}, which is not one of its "
                f"depends_on {list(stage.depends_on)}",
            )


def evaluate(
    spec: PipelineSpec,
    stage: StageSpec,
    status: Mapping[str, StageStatus],
    outputs: Mapping[str, Mapping[str, str]],
    pipeline_status: StageStatus = StageStatus.RUNNING,
) -> bool:
    """The stage's condition, given its dependencies' final statuses and outputs (a
    skipped dependency has none). Raises ConditionError when it fails to evaluate or is
    not a bool. pipeline_status: RUNNING, or for a cleanup stage the outcome of the other
    stages (cleanup.py)."""
    activation = {
        "pipeline": json_to_cel(
            {
                "id": spec.pipeline_id,
                "repository": spec.repository,
                "commit_sha": spec.commit_sha,
                "triggered_by": spec.triggered_by,
                "metadata": dict(spec.metadata),
                "status": pipeline_status.value,
            }
        ),
        "stages": json_to_cel(
            {
                dep: {"status": status[dep].value, "outputs": dict(outputs.get(dep, {}))}
                for dep in stage.depends_on
            }
        ),
    }
    try:
        result = _ENV.program(_ENV.compile(stage.when)).evaluate(activation)
    except (CELParseError, CELEvalError) as err:
        raise ConditionError(_short(err)) from err
    if isinstance(result, CELEvalError):
        raise ConditionError(_short(result))
    if not isinstance(result, BoolType):
        raise ConditionError(f"is a {type(result).__name__}, not a bool")
    return bool(result)


def _short(err: Exception) -> str:
    """CEL's own text, without the activation dump some of its errors carry."""
    text = str(err.args[0]) if err.args else str(err)
    return text.split(" (in activation", 1)[0][:_MAX_ERROR_CHARS]


def _position(node: Tree[Token] | Token) -> Position:
    if isinstance(node, Token):
        return Position(node.line or 1, node.column or 1)
    return Position(getattr(node.meta, "line", 1), getattr(node.meta, "column", 1))


def _ident(node: Tree[Token] | Token) -> Token | None:
    """The identifier a `member` node is, when it is only a name (`stages`)."""
    if isinstance(node, Tree) and node.data == "member" and len(node.children) == 1:
        primary = node.children[0]
        if isinstance(primary, Tree) and primary.data == "primary":
            ident = primary.children[0]
            if isinstance(ident, Tree) and ident.data == "ident":
                token = ident.children[0]
                return token if isinstance(token, Token) else None
    return None


def _free_names(tree: Tree[Token]) -> list[tuple[str, Position]]:
    found = []
    for node in tree.iter_subtrees():
        if node.data == "ident" and isinstance(node.children[0], Token):
            token = node.children[0]
            found.append((str(token), _position(token)))
    return sorted(found, key=lambda item: (item[1].line, item[1].column))


def _bound_names(tree: Tree[Token]) -> set[str]:
    bound: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data != "member_dot_arg" or len(node.children) < 3:
            continue
        method, args = node.children[1], node.children[2]
        if str(method) in _MACROS and isinstance(args, Tree) and args.children:
            first = args.children[0]
            for sub in first.iter_subtrees() if isinstance(first, Tree) else ():
                if sub.data == "ident":
                    bound.add(str(sub.children[0]))
                    break
    return bound


def _stage_references(tree: Tree[Token]) -> list[tuple[str | None, Position]]:
    """Each `stages.<id>` and `stages["<id>"]`; None for an index that is no literal."""
    found: list[tuple[str | None, Position]] = []
    for node in tree.iter_subtrees():
        if node.data not in ("member_dot", "member_index") or len(node.children) < 2:
            continue
        base = _ident(node.children[0])
        if base is None or str(base) != "stages":
            continue
        key = node.children[1]
        if node.data == "member_dot":
            found.append((str(key), _position(key)))
        else:
            found.append((_string_literal(key), _position(key)))
    return sorted(found, key=lambda item: (item[1].line, item[1].column))


def _string_literal(node: Tree[Token] | Token) -> str | None:
    """The value of an index that is a constant string ("build"), evaluated by CEL itself
    with no variables: anything that needs one is no literal."""
    if not isinstance(node, Tree):
        return None
    try:
        value = _ENV.program(node).evaluate({})
    except CELEvalError:
        return None
    return str(value) if isinstance(value, StringType) else None
