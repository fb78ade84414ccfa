"""`make bench`: runs every benchmark in turn."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import bench

# Modules that are not benchmarks.
SKIP = {"bare", "ports", "report", "__main__"}


def main() -> None:
    for module in pkgutil.iter_modules([str(Path(bench.__file__).parent)]):
        if module.name not in SKIP:
            entry = importlib.import_module(f"bench.{module.name}")
            print(f"== bench.{module.name}")
            entry.run()


if __name__ == "__main__":
    main()
