"""Regenerates the committed protobuf/gRPC modules from proto/ (`make proto`).

The generated modules are committed so that installing needs no protoc; a test calls
`generate()` into a temporary folder and fails when the committed ones are stale.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
PROTO_FILES = ("ottoscaler/v1/ottoscaler.proto",)
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_dir: Path) -> list[Path]:
    """Writes the generated modules under out_dir and returns their paths."""
    well_known = resources.files("grpc_tools") / "_proto"
    # protoc finds the mypy plugins on PATH; they live beside this interpreter.
    venv_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([venv_bin, os.environ.get("PATH", "")])
    for proto in PROTO_FILES:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out_dir}",
            f"--grpc_python_out={out_dir}",
            f"--mypy_out={out_dir}",
            f"--mypy_grpc_out={out_dir}",
            str(PROTO_ROOT / proto),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {proto}")
    return sorted(p for p in out_dir.rglob("*") if p.name.endswith(GENERATED_SUFFIXES))


def main() -> None:
    for path in generate(PROTO_ROOT):
        print(path.relative_to(PROTO_ROOT.parent))


if __name__ == "__main__":
    main()
