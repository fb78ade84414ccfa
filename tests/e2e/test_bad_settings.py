"""A setting out of its range: `ottoscaler up` names the variable and its limit, never the
value given (some are keys), exits 2 with no traceback and starts nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import mentioning
from tests.e2e.stack import START_TIMEOUT, Ports, up_command

SECRET = "not-a-key-but-secret"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("MAX_WORKERS", "0", "MAX_WORKERS: Input should be greater than or equal to 1"),
        (
            "AGENT_RATE_LIMIT",
            str(2**31),
            "AGENT_RATE_LIMIT: Input should be less than or equal to 2147483647",
        ),
        (
            "MAX_WORKERS",
            "NaN",
            "MAX_WORKERS: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("WORKER_TTL_SECONDS", "inf", "WORKER_TTL_SECONDS: Input should be a finite number"),
        ("LOG_POLL_SECONDS", "NaN", "LOG_POLL_SECONDS: Input should be a finite number"),
        (
            "OTTOSCALER_TLS_CERT",
            "/nowhere/cert.pem",
            "OTTOSCALER_TLS_CERT and OTTOSCALER_TLS_KEY: give both or neither",
        ),
        (
            "OTTOSCALER_PAYLOAD_KEY",
            SECRET,
            "OTTOSCALER_PAYLOAD_KEY: key 1 of 1 is not base64 of 16, 24 or 32 bytes "
            "(make one with: openssl rand -base64 32)",
        ),
    ],
)
def test_a_bad_setting_is_named_with_its_limit_and_nothing_starts(
    variable: str, value: str, problem: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    result = subprocess.run(
        up_command(data_dir, Ports.free()),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        env={**os.environ, variable: value},
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["ottoscaler up: invalid settings:", problem]
    assert result.stdout == ""
    assert not data_dir.exists()
    assert mentioning(str(tmp_path)) == []
