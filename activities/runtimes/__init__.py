"""Worker backends: kubernetes (pods), local (processes) and mock (scripted timers)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.trace import Tracer

from activities.runtimes.local import LocalRuntime
from activities.runtimes.mock.runtime import MockRuntime
from activities.runtimes.protocol import WorkerRuntime
from activities.secrets.files import FileSecretStore


def create_runtime(
    kind: str,
    namespace: str,
    default_image: str,
    *,
    data_dir: Path,
    owner: str = "",
    tracer: Tracer | None = None,
) -> WorkerRuntime:
    """The backend named by OTTOSCALER_RUNTIME; owner (OTTOSCALER_OWNER) is kubernetes',
    data_dir (OTTOSCALER_DATA_DIR) holds the local runtime's workers, under workers/, and
    the secrets local and mock keep (0600 files, under secrets/). tracer: where kubernetes'
    requests to the API server are traced, if anywhere."""
    if kind == "mock":
        return MockRuntime(FileSecretStore(data_dir / "secrets"))
    if kind == "local":
        return LocalRuntime(data_dir / "workers", FileSecretStore(data_dir / "secrets"))
    if kind == "kubernetes":
        # Imported on demand: the kubernetes client is slow to import and unused elsewhere.
        from activities.runtimes.kubernetes.runtime import KubernetesRuntime

        runtime: WorkerRuntime = KubernetesRuntime.from_environment(
            namespace, default_image, owner=owner, tracer=tracer
        )
        return runtime
    raise ValueError(f"OTTOSCALER_RUNTIME: unknown runtime {kind!r} (kubernetes, local, mock)")
