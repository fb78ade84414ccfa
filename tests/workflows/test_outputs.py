"""Outputs: one worker's lines parsed and limited, shards merged, passed downstream."""

from __future__ import annotations

import pytest

from workflows.pipeline.outputs import (
    MAX_PIPELINE_OUTPUTS_BYTES,
    OutputsConflict,
    check_pipeline_total,
    merge_shards,
    outputs_env,
    variable,
)
from workflows.workers.outputs import MAX_WORKER_OUTPUTS_BYTES, OutputsError, parse_outputs


def test_lines_become_a_map_comments_and_blanks_ignored_last_value_wins() -> None:
    text = "# built\nversion=1.2.3\n\nurl=https://x/?a=b\nversion=1.2.4\nempty=\n"
    assert parse_outputs(text) == {"version": "1.2.4", "url": "https://x/?a=b", "empty": ""}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ok=1\nno equals sign\n", "line 2: 'no equals sign' is not key=value"),
        ("ok=1\n\n9lives=x\n", "line 3: key '9lives' must match [A-Za-z_][A-Za-z0-9_]*"),
        ("a-b=1", "line 1: key 'a-b' must match"),
        ("k" * 65 + "=1", "line 1: key has 65 characters, at most 64"),
        ("big=" + "x" * 1025, "line 1: the value of 'big' has 1025 bytes, at most 1024"),
        ("nul=a\0b", "line 1: the value of 'nul' contains a NUL character"),
        ("Version=1\nversion=2", "line 2: key 'version' and 'Version' on line 1 differ only"),
        ("a=" + "x" * MAX_WORKER_OUTPUTS_BYTES, "holds more than 4000 bytes, the limit"),
    ],
)
def test_bad_outputs_name_the_line_and_the_limit(text: str, problem: str) -> None:
    with pytest.raises(OutputsError, match="OTTO_OUTPUTS") as raised:
        parse_outputs(text)
    assert problem in str(raised.value)


def test_shards_that_agree_merge() -> None:
    merged = merge_shards({0: {"v": "1", "a": "x"}, 1: {"v": "1", "b": "y"}, 2: {}})
    assert merged == {"v": "1", "a": "x", "b": "y"}


def test_shards_that_disagree_name_the_key_and_the_shards() -> None:
    with pytest.raises(OutputsConflict) as raised:
        merge_shards({0: {"v": "1"}, 1: {"v": "1"}, 2: {"v": "2"}})
    assert str(raised.value) == (
        "outputs: key 'v' is '1' in shard 0 and '2' in shard 2; shards must agree on a key's value"
    )
    with pytest.raises(OutputsConflict, match="shard 0 wrote 'v' and shard 1 wrote 'V'"):
        merge_shards({0: {"v": "1"}, 1: {"V": "1"}})


def test_a_stage_and_a_pipeline_have_size_limits() -> None:
    shards = {n: {f"k{n}": "x" * 900} for n in range(5)}
    with pytest.raises(OutputsConflict, match="merged are 4520 bytes, at most 4000 a stage"):
        merge_shards(shards)
    earlier = [{f"k{n}": "x" * 1000} for n in range(16)]
    with pytest.raises(OutputsConflict, match=f"at most {MAX_PIPELINE_OUTPUTS_BYTES} in all"):
        check_pipeline_total({"last": "x" * 500}, earlier)
    check_pipeline_total({"last": "x"}, earlier[:15])


def test_downstream_sees_every_upstream_stage_transitively() -> None:
    graph = {"build": (), "test-unit": ("build",), "deploy": ("test-unit",), "other": ()}
    outputs = {"build": {"version": "1.2"}, "test-unit": {"passed": "12"}, "other": {"x": "1"}}
    assert outputs_env(graph, "deploy", outputs) == {
        "OTTO_OUTPUT_BUILD_VERSION": "1.2",
        "OTTO_OUTPUT_TEST_UNIT_PASSED": "12",
    }
    assert variable("build.v2", "Image_tag") == "OTTO_OUTPUT_BUILD_V2_IMAGE_TAG"


def test_two_outputs_naming_one_variable_refuse_to_guess() -> None:
    graph = {"a": (), "a_b": (), "c": ("a", "a_b")}
    with pytest.raises(OutputsConflict) as raised:
        outputs_env(graph, "c", {"a": {"b_c": "1"}, "a_b": {"c": "2"}})
    assert str(raised.value) == (
        "outputs: stage a's output 'b_c' and stage a_b's output 'c' both name "
        "OTTO_OUTPUT_A_B_C; rename one of the keys"
    )
