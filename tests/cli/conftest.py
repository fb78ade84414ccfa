"""One `ottoscaler up --runtime mock` for every CLI test here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cli.stack import Stack, mock_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with mock_stack(tmp_path_factory.mktemp("up")) as running:
        yield running
