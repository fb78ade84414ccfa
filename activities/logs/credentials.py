"""The credential an agent proves its worker's identity with when it pushes logs.

Ottoscaler puts it in every worker's environment as the worker is created
(`with_agent_credential`, in the activities), never in the spec a workflow writes: it
stays out of Temporal history. It is an HMAC of the worker's task and name under the key
gateway and workers share (OTTOSCALER_SIGNING_KEY, gateway/settings.py), so the gateway
checks it with nothing stored, and it proves one worker of one run: worker names carry
their run.
"""

from __future__ import annotations

import hashlib
import hmac

from workflows.workers.spec import Labels, WorkerSpec

WORKER_NAME_ENV = "OTTO_WORKER_NAME"
CREDENTIAL_ENV = "OTTO_AGENT_CREDENTIAL"
# Keeps these MACs apart from anything else signed with the same key.
_PURPOSE = b"ottoscaler agent credential v1"


def agent_credential(key: bytes, task_id: str, worker: str) -> str:
    message = b"\0".join((_PURPOSE, task_id.encode(), worker.encode()))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def proves(key: bytes, task_id: str, worker: str, credential: str) -> bool:
    """Constant time, so the answer's timing tells a guesser nothing."""
    expected = agent_credential(key, task_id, worker).encode()
    return hmac.compare_digest(expected, credential.encode())


def with_agent_credential(spec: WorkerSpec, key: bytes) -> WorkerSpec:
    """The spec to create: its env also names the worker and carries its credential."""
    task_id = spec.labels.get(Labels.TASK_ID, "")
    env = {
        **spec.env,
        WORKER_NAME_ENV: spec.name,
        CREDENTIAL_ENV: agent_credential(key, task_id, spec.name),
    }
    return spec.model_copy(update={"env": env})
