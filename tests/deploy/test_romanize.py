"""The name `make setup-user USER=<name>` turns into a kind cluster and a namespace."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.romanize import MAX_LENGTH, InvalidUserName, main, romanize

REPO = Path(__file__).resolve().parents[2]
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("한진우", "hanjinwoo"),
        ("김민수", "gimminsu"),
        ("박지은", "bakjieun"),  # a vowel-initial syllable: the silent ㅇ writes nothing
        ("최서연", "choeseoyeon"),
        ("설리", "seolli"),  # ㄹ after ㄹ is "l", not "r"
        ("류현욱", "ryuhyeonwook"),  # 욱 takes the "woo" of 우
        ("복남", "boknam"),  # no assimilation in names (not "bongnam")
        ("Alice", "alice"),
        ("Jin Woo", "jin-woo"),
        ("dev_01", "dev-01"),
        ("한-dev", "han-dev"),
    ],
)
def test_names_become_dns_labels(name: str, label: str) -> None:
    assert romanize(name) == label


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("李明", "'李' is neither"),
        ("ㅎㅎ", "'ㅎ' is neither"),  # a bare jamo is not a syllable
        ("José", "'é' is neither"),
        ("a/b", "'/' is neither"),
        ("-bob", "must start and end"),
        ("bob-", "must start and end"),
        ("a" * (MAX_LENGTH + 1), "control-plane"),
    ],
)
def test_names_that_cannot_be_labels_are_rejected_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidUserName, match=re.escape(reason)):
        romanize(name)


def test_the_longest_accepted_name_fits_every_derived_name() -> None:
    label = romanize("a" * MAX_LENGTH)
    for derived in (f"ottoscaler-{label}-control-plane", f"{label}-dev"):
        assert len(derived) <= 63
        assert DNS1123_LABEL.match(derived)


def test_every_hangul_syllable_romanises_to_letters() -> None:
    for code in range(0xAC00, 0xD7A4):
        assert re.fullmatch("[a-z]+", romanize(chr(code))), chr(code)


@given(st.text(max_size=50))
def test_any_name_gives_a_valid_label_or_is_rejected(name: str) -> None:
    try:
        label = romanize(name)
    except InvalidUserName:
        return
    assert len(label) <= MAX_LENGTH
    assert DNS1123_LABEL.match(label)


def test_command_line_prints_the_label() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.romanize", "한진우"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "hanjinwoo\n", "")


def test_command_line_rejects_with_exit_2_and_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["李明"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "cannot make a cluster and namespace name from '李明'" in captured.err
    assert "'李' is neither an ASCII letter" in captured.err


def test_command_line_without_a_name_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: python -m tools.romanize NAME" in capsys.readouterr().err
