"""A fake kubelet: moves pods Pending -> Running -> Succeeded/Failed and writes their logs.

Like a real kubelet it sees only the pod, so tests script a worker through its
container's environment (a stage's env-like config keys end up there):

    FAKE_DURATION        seconds the container runs (float, default 0)
    FAKE_EXIT_CODE       exit code (default 0, or 137 with FAKE_REASON=OOMKilled)
    FAKE_REASON          terminated reason, e.g. OOMKilled; Evicted fails the whole pod
    FAKE_WAITING_REASON  e.g. ImagePullBackOff: the container never starts, waits with it
    FAKE_UNSCHEDULABLE   1: the scheduler finds no node (PodScheduled False, Unschedulable)
    FAKE_LINES           lines of output "line 1".."line N", spread over the duration
    FAKE_FAIL_ATTEMPTS   N: FAKE_EXIT_CODE and FAKE_REASON hold for the first N attempts
                         (OTTO_ATTEMPT) only; later attempts succeed
    FAKE_ECHO            names variables whose values it prints first, one line each
                         ("A,B"); a value with a newline prints as several lines
    FAKE_OUTPUTS         what the container writes to its terminationMessagePath: the
                         kubelet reports its last 4,096 bytes as the terminated state's
                         message, as a real one does

Variables taken from a Secret (valueFrom.secretKeyRef) are read from the emulator's
Secrets as the container starts; a missing Secret or key holds the container waiting with
CreateContainerConfigError, as a real kubelet does.

spec.activeDeadlineSeconds is honoured: past it the pod fails with DeadlineExceeded.
exit() ends a running container now, for tests that must not race its duration;
release() starts a container that FAKE_WAITING_REASON holds.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass

from tests.kube.store import Json, PodStore, now_rfc3339

NODE_NAME = "fake-node-1"
TERMINATION_MESSAGE_BYTES = 4096
POD_IP = "10.244.0.{n}"


@dataclass
class _Progress:
    index: int
    started: float | None = None  # monotonic, when the container started
    lines: int = 0
    echoed: bool = False


def _env(pod: Json, store: PodStore) -> dict[str, str] | None:
    """The container's environment; None while a Secret it refers to is missing."""
    container = pod["spec"]["containers"][0]
    env: dict[str, str] = {}
    for item in container.get("env") or ():
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            env[item["name"]] = item.get("value", "")
            continue
        secret = store.get_secret(pod["metadata"]["namespace"], ref["name"])
        data = (secret or {}).get("data") or {}
        if ref["key"] not in data:
            return None
        env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
    failing = env.get("FAKE_FAIL_ATTEMPTS")
    if failing is not None and int(env.get("OTTO_ATTEMPT", "1")) > int(failing):
        return {k: v for k, v in env.items() if k not in ("FAKE_EXIT_CODE", "FAKE_REASON")}
    return env


def _container(pod: Json, state: Json, *, ready: bool = False) -> list[Json]:
    spec = pod["spec"]["containers"][0]
    return [
        {
            "name": spec["name"],
            "image": spec["image"],
            "imageID": "",
            "containerID": f"fake://{pod['metadata']['uid']}",
            "ready": ready,
            "started": "running" in state,
            "restartCount": 0,
            "state": state,
        }
    ]


def _condition(type_: str, status: str, reason: str = "", message: str = "") -> Json:
    condition = {"type": type_, "status": status, "lastTransitionTime": now_rfc3339()}
    if reason:
        condition.update(reason=reason, message=message)
    return condition


class FakeKubelet:
    def __init__(self, store: PodStore, tick_seconds: float = 0.01) -> None:
        self._store = store
        self._tick = tick_seconds
        self._progress: dict[str, _Progress] = {}
        self._exits: dict[tuple[str, str], int] = {}
        self._released: set[tuple[str, str]] = set()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def exit(self, namespace: str, name: str, code: int = 0) -> None:
        """The container of that pod exits with code at the next tick."""
        self._exits[namespace, name] = code

    def release(self, namespace: str, name: str) -> None:
        """The container of that pod stops waiting (its FAKE_WAITING_REASON is over)."""
        self._released.add((namespace, name))

    def _run(self) -> None:
        while not self._stopping.wait(self._tick):
            pods, _ = self._store.select(lambda _pod: True)
            for pod in pods:
                self._advance(pod)
            alive = {pod["metadata"]["uid"] for pod in pods}
            self._progress = {uid: p for uid, p in self._progress.items() if uid in alive}

    def _update(self, pod: Json, **status: object) -> None:
        self._store.update(
            pod["metadata"]["namespace"],
            pod["metadata"]["name"],
            lambda stored: stored["status"].update(status),
        )

    def _advance(self, pod: Json) -> None:
        status = pod["status"]
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        progress = self._progress.setdefault(
            pod["metadata"]["uid"], _Progress(index=len(self._progress) + 2)
        )
        env = _env(pod, self._store)
        if env is None:
            if pod["spec"].get("nodeName"):
                self._hold(pod, "CreateContainerConfigError")
            else:
                self._schedule(pod, {})
        elif not pod["spec"].get("nodeName"):
            self._schedule(pod, env)
        elif env.get("FAKE_WAITING_REASON") and (
            (pod["metadata"]["namespace"], pod["metadata"]["name"]) not in self._released
        ):
            self._hold(pod, env["FAKE_WAITING_REASON"])
        elif progress.started is None:
            progress.started = time.monotonic()
            state = {"running": {"startedAt": now_rfc3339()}}
            self._update(
                pod,
                phase="Running",
                startTime=now_rfc3339(),
                podIP=POD_IP.format(n=progress.index),
                containerStatuses=_container(pod, state, ready=True),
            )
        else:
            self._run_container(pod, env, progress)

    def _schedule(self, pod: Json, env: dict[str, str]) -> None:
        if env.get("FAKE_UNSCHEDULABLE") == "1":
            if not pod["status"].get("conditions"):
                message = "0/1 nodes are available: 1 Insufficient cpu."
                condition = _condition("PodScheduled", "False", "Unschedulable", message)
                self._update(pod, conditions=[condition])
            return

        def bind(stored: Json) -> None:
            stored["spec"]["nodeName"] = NODE_NAME
            stored["status"]["conditions"] = [_condition("PodScheduled", "True")]
            waiting = {"waiting": {"reason": "ContainerCreating"}}
            stored["status"]["containerStatuses"] = _container(stored, waiting)

        self._store.update(pod["metadata"]["namespace"], pod["metadata"]["name"], bind)

    def _hold(self, pod: Json, reason: str) -> None:
        state = {"waiting": {"reason": reason, "message": f"fake kubelet: {reason}"}}
        if pod["status"]["containerStatuses"][0]["state"] != state:
            self._update(pod, containerStatuses=_container(pod, state))

    def _run_container(self, pod: Json, env: dict[str, str], progress: _Progress) -> None:
        assert progress.started is not None
        elapsed = time.monotonic() - progress.started
        duration = float(env.get("FAKE_DURATION", "0"))
        deadline = pod["spec"].get("activeDeadlineSeconds")
        total = int(env.get("FAKE_LINES", "0"))
        namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        forced = self._exits.pop((namespace, name), None)
        if forced is not None:
            env = {**env, "FAKE_EXIT_CODE": str(forced)}
        done = forced is not None or elapsed >= duration
        due = total if done else int(total * elapsed / duration)
        if not progress.echoed:
            progress.echoed = True
            for variable in filter(None, env.get("FAKE_ECHO", "").split(",")):
                for text in env.get(variable, "").split("\n"):
                    self._store.append_log(namespace, name, text)
        while progress.lines < due:
            progress.lines += 1
            self._store.append_log(namespace, name, f"line {progress.lines}")
        if deadline is not None and elapsed >= deadline and not done:
            message = "Pod was active on the node longer than the specified deadline"
            self._fail_pod(pod, "DeadlineExceeded", message)
        elif done:
            self._terminate(pod, env)

    def _termination_message(self, pod: Json, env: dict[str, str]) -> str:
        """A kubelet reads the last 4,096 bytes of the file (its
        MaxContainerTerminationMessageLength); Ottoscaler's policy File never asks it
        for the log's tail instead."""
        if not pod["spec"]["containers"][0].get("terminationMessagePath"):
            return ""
        written = env.get("FAKE_OUTPUTS", "").encode()[-TERMINATION_MESSAGE_BYTES:]
        return written.decode(errors="replace")

    def _fail_pod(self, pod: Json, reason: str, message: str) -> None:
        state = {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now_rfc3339()}}
        self._update(
            pod,
            phase="Failed",
            reason=reason,
            message=message,
            containerStatuses=_container(pod, state),
        )

    def _terminate(self, pod: Json, env: dict[str, str]) -> None:
        reason = env.get("FAKE_REASON", "")
        if reason == "Evicted":
            self._fail_pod(pod, "Evicted", "The node was low on resource: memory.")
            return
        exit_code = int(env.get("FAKE_EXIT_CODE", "137" if reason == "OOMKilled" else "0"))
        started = pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        terminated = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": started,
            "finishedAt": now_rfc3339(),
        }
        message = self._termination_message(pod, env)
        if message:
            terminated["message"] = message
        phase = "Succeeded" if exit_code == 0 else "Failed"
        self._update(
            pod, phase=phase, containerStatuses=_container(pod, {"terminated": terminated})
        )
