"""`test-scaling`: drives ScaleUp, ScaleDown and GetWorkerStatus (see issue 5)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    print("test-scaling: worker pools are not implemented yet (issue 5)", file=sys.stderr)
    return 2
