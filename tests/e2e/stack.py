"""`ottoscaler up` in a session of its own, as a terminal runs it: Ctrl-C is SIGINT to its
process group, and every port it listens on is named on its command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import descendants, free_port

BIN = Path(sys.executable).parent
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Ports:
    grpc: int
    metrics: int
    temporal: int
    ui: int
    temporal_metrics: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())

    def flags(self) -> list[str]:
        return [
            f"--grpc-port={self.grpc}",
            f"--metrics-port={self.metrics}",
            f"--temporal-port={self.temporal}",
            f"--ui-port={self.ui}",
            f"--temporal-metrics-port={self.temporal_metrics}",
        ]


def up_command(data_dir: Path, ports: Ports) -> list[str]:
    return [
        str(BIN / "ottoscaler"),
        "up",
        "--runtime=mock",
        f"--data-dir={data_dir}",
        *ports.flags(),
    ]


def run_to_end(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=START_TIMEOUT, start_new_session=True
    )


class Stack:
    """A running `up`; its stdout and stderr go to one file."""

    def __init__(self, data_dir: Path, ports: Ports) -> None:
        self.ports = ports
        self.output = data_dir.parent / f"{data_dir.name}.out"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                up_command(data_dir, ports),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while "Temporal:" not in self.text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.kill()
                raise AssertionError(f"`ottoscaler up` did not start:\n{self.text()}")
            time.sleep(0.05)
        self.children = descendants(self.process.pid)

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def ctrl_c(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
