"""The one way benchmarks report: a table on stdout and a JSON file under bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
Figure = float | int | str


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of samples (pct in 0..100)."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p99/max/mean in milliseconds."""
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 99) * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
        "mean_ms": round(statistics.fmean(seconds) * 1000, 3),
    }


def report(name: str, rows: Mapping[str, Mapping[str, Figure]], targets: Mapping[str, str]) -> Path:
    """Prints rows (one per measurement) and writes them with the targets and the machine."""
    width = max(len(key) for key in rows)
    print(f"\n{name}")
    for key, figures in rows.items():
        cells = "  ".join(f"{k}={v}" for k, v in figures.items())
        print(f"  {key:<{width}}  {cells}")
    for what, target in targets.items():
        print(f"  target {what}: {target}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": name,
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "rows": rows,
                "targets": targets,
            },
            indent=2,
        )
    )
    print(f"  written to {out}")
    return out
