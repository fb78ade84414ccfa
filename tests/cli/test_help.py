"""What the old tools' -h says about their flags."""

from __future__ import annotations

import pytest

from tests.cli.stack import run


@pytest.mark.parametrize(
    ("program", "default"), [("test-pipeline", "10m"), ("test-scaling", "30s")]
)
async def test_timeout_help_gives_its_unit_and_default(program: str, default: str) -> None:
    result = await run(program, "-h")
    assert result.code == 0
    help_text = " ".join(result.out.split())  # argparse wraps lines
    assert f"a Go duration such as 30s, 10m or 1h30m (default {default})" in help_text
