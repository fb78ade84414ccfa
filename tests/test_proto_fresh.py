"""The committed generated modules match proto/: `make proto` was not forgotten."""

from __future__ import annotations

from pathlib import Path

from tools.protogen import PROTO_ROOT, generate


def test_generated_modules_are_up_to_date(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "protoc generated nothing"
    for path in fresh:
        committed = PROTO_ROOT / path.relative_to(tmp_path)
        assert committed.exists(), f"{committed} is missing: run `make proto`"
        assert committed.read_text() == path.read_text(), f"{committed} is stale: run `make proto`"
