"""The `kubernetes` WorkerRuntime: each worker is one pod in one namespace.

The official client is synchronous, so every call runs in a thread pool of this runtime
(watches in their own pool: each blocks a thread for up to a watch timeout, and must
never starve short calls such as create or delete). Decisions are pure and live in
pods (the manifest), status (what a pod state means) and errors (what a
client error means); wait follows one pod, watch feeds watch(), logs
follows a pod's output, owner finds the pods' owner; bodies types the JSON they all share.
docs/kubernetes.md is the user's guide.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from kubernetes import config
from kubernetes.client import ApiClient, Configuration, CoreV1Api, V1Pod
from kubernetes.client.exceptions import ApiException
from opentelemetry.trace import Tracer

from activities.logs.lines import LogCursor, OutputLine
from activities.runtimes.kubernetes.bodies import OwnerReference, as_json
from activities.runtimes.kubernetes.errors import CLIENT_ERRORS, Retry, runtime_error
from activities.runtimes.kubernetes.logs import PodLog, follow_pod_log
from activities.runtimes.kubernetes.owner import resolve_owner
from activities.runtimes.kubernetes.pods import build_pod, label_selector
from activities.runtimes.kubernetes.secrets import KubeSecrets
from activities.runtimes.kubernetes.status import (
    PendingLimits,
    termination_message,
    worker_info,
)
from activities.runtimes.kubernetes.tracing import trace_calls
from activities.runtimes.kubernetes.wait import PodWatcher
from activities.runtimes.kubernetes.watch import PodFeed, follow
from activities.runtimes.protocol import (
    PermanentRuntimeError,
    TransientRuntimeError,
    WorkerEvent,
    WorkerNotFound,
)
from workflows.workers.spec import Labels, WorkerInfo, WorkerOutcome, WorkerSpec

T = TypeVar("T")
_CONFLICT = 409


@dataclass(frozen=True)
class KubeTuning:
    """Timings of the runtime; the defaults suit a real cluster, tests shrink them."""

    # How long ErrImagePull may persist before the worker fails (Tekton: it may be transient).
    image_pull_grace_seconds: float = 30.0
    # Server-side timeout of one watch request; the watch then resumes from its version.
    watch_timeout_seconds: int = 60
    # Failed list/watch requests in a row that wait() retries before it gives up.
    watch_retries: int = 5
    retry_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    delete_grace_seconds: int = 5
    max_watches: int = 256
    max_calls: int = 16


def load_api_client(connections: int) -> ApiClient:
    """In-cluster service-account config, else the current kubeconfig context; a pool of
    `connections` HTTP connections (the client's default, 5 per CPU, is far fewer than our
    threads, and it would open and discard a connection for every call past it)."""
    configuration = Configuration()
    configuration.connection_pool_maxsize = connections
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            # KUBECONFIG read now: the client reads it once, when it is imported.
            config.load_kube_config(  # type: ignore[no-untyped-call]
                os.environ.get("KUBECONFIG"), client_configuration=configuration
            )
        except (config.ConfigException, OSError) as exc:
            raise PermanentRuntimeError(
                "no Kubernetes configuration: not running in a cluster and no usable "
                f"kubeconfig (KUBECONFIG or ~/.kube/config): {exc}"
            ) from exc
    return ApiClient(configuration)


class KubernetesRuntime:
    """Runs workers as pods in one namespace."""

    name = "kubernetes"

    def __init__(
        self,
        namespace: str,
        default_image: str,
        api_client: ApiClient | None = None,
        *,
        owner: OwnerReference | None = None,
        tuning: KubeTuning = KubeTuning(),
        tracer: Tracer | None = None,
    ) -> None:
        """api_client None loads the configuration from the environment (load_api_client);
        owner is the ownerReference of every worker pod; tracer, if any, gets a span per
        request to the API server (tracing)."""
        self._namespace = namespace
        self._default_image = default_image
        self._owns_client = api_client is None
        self._api = api_client or load_api_client(tuning.max_calls + tuning.max_watches)
        if tracer is not None:
            trace_calls(self._api, tracer)
        self._core = CoreV1Api(self._api)
        self._tuning = tuning
        self._calls = ThreadPoolExecutor(tuning.max_calls, thread_name_prefix="kube-call")
        self._watches = ThreadPoolExecutor(tuning.max_watches, thread_name_prefix="kube-watch")
        self._owner = owner
        self.secrets = KubeSecrets(
            self._api, namespace, functools.partial(self._run, self._calls), lambda: self._owner
        )
        self._watchers: set[PodWatcher | PodFeed] = set()
        self._logs: set[PodLog] = set()
        self._closed = False

    @classmethod
    def from_environment(
        cls,
        namespace: str,
        default_image: str,
        *,
        owner: str = "",
        tuning: KubeTuning = KubeTuning(),
        tracer: Tracer | None = None,
    ) -> KubernetesRuntime:
        """The runtime `ottoscaler` starts: in-cluster config, else the current kubeconfig.

        Worker pods are owned by `owner` (OTTOSCALER_OWNER) if set, else in a cluster by
        Ottoscaler's own ReplicaSet (owner). Resolving it blocks once, at start.
        """
        runtime = cls(namespace, default_image, tuning=tuning, tracer=tracer)
        try:
            runtime._owner = resolve_owner(runtime._api, namespace, owner, os.environ)
        except BaseException:
            runtime._api.close()  # type: ignore[no-untyped-call]
            raise
        return runtime

    async def _run(
        self, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        if self._closed:  # the worker is shutting down: another one retries the activity
            raise TransientRuntimeError("the kubernetes runtime is closed")
        try:
            # In the caller's context: a request's span is the child of the caller's.
            return await asyncio.get_running_loop().run_in_executor(
                pool, contextvars.copy_context().run, functools.partial(fn, *args, **kw)
            )
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._closed and task is not None and not task.cancelling():
                # close() dropped this queued call; the caller itself was not cancelled.
                raise TransientRuntimeError("the kubernetes runtime is closed") from None
            raise

    async def _call(self, verb: str, name: str, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """One API call, its errors as RuntimeFailure."""
        try:
            return await self._run(self._calls, fn, *args, **kw)
        except CLIENT_ERRORS as exc:
            raise runtime_error(exc, verb=verb, namespace=self._namespace, name=name) from exc

    async def create(self, spec: WorkerSpec) -> WorkerInfo:
        try:
            manifest = build_pod(spec, self._namespace, self._default_image, self._owner)
        except ValueError as exc:
            raise PermanentRuntimeError(f"cannot run worker {spec.name!r}: {exc}") from exc
        # dict(): mypy takes no TypedDict for from_dict's dict[str, Any] parameter.
        body = V1Pod.from_dict(dict(manifest))
        try:
            created = await self._run(
                self._calls, self._core.create_namespaced_pod, self._namespace, body
            )
        except CLIENT_ERRORS as exc:
            if isinstance(exc, ApiException) and exc.status == _CONFLICT:
                return await self._adopt(spec)
            raise runtime_error(
                exc, verb="create", namespace=self._namespace, name=spec.name
            ) from exc
        return worker_info(as_json(self._api, created))

    async def _adopt(self, spec: WorkerSpec) -> WorkerInfo:
        """Idempotency guard: a retried create finds its own pod, never another run's."""
        try:
            model = await self._call(
                "get", spec.name, self._core.read_namespaced_pod, spec.name, self._namespace
            )
        except WorkerNotFound as exc:  # deleted between our create and our read
            raise TransientRuntimeError(f"pod {spec.name!r} vanished while adopted") from exc
        pod = as_json(self._api, model)
        ours = spec.labels.get(Labels.RUN_ID, "")
        theirs = pod.get("metadata", {}).get("labels", {}).get(Labels.RUN_ID, "")
        if theirs != ours:
            raise PermanentRuntimeError(
                f"pod {spec.name!r} already exists in namespace {self._namespace!r} but belongs "
                f"to run {theirs or '(none)'!r}, not {ours or '(none)'!r}; it is not adopted"
            )
        return worker_info(pod)

    async def wait(self, spec: WorkerSpec) -> WorkerOutcome:
        limits = PendingLimits(
            pending_timeout=spec.pending_timeout_seconds,
            pull_grace=self._tuning.image_pull_grace_seconds,
        )
        watcher = PodWatcher(
            self._api, self._namespace, spec.name, limits, self._tuning.watch_timeout_seconds
        )
        self._watchers.add(watcher)
        try:
            return await self._follow(watcher, spec.name)
        finally:
            watcher.stop()
            self._watchers.discard(watcher)

    async def _follow(self, watcher: PodWatcher, name: str) -> WorkerOutcome:
        retry = self._retry(name)
        while True:
            step = watcher.list if watcher.version is None else watcher.watch_round
            try:
                outcome = await self._run(self._watches, step)
            except CLIENT_ERRORS as exc:
                await retry.failed(exc)
                continue
            retry.succeeded()
            outcome = outcome or watcher.check()
            if outcome is not None:
                return outcome

    def _retry(self, name: str = "") -> Retry:
        tuning = self._tuning
        return Retry(
            tuning.watch_retries,
            tuning.retry_backoff_seconds,
            tuning.max_backoff_seconds,
            namespace=self._namespace,
            name=name,
        )

    async def read_outputs(self, spec: WorkerSpec) -> str:
        model = await self._call(
            "get", spec.name, self._core.read_namespaced_pod, spec.name, self._namespace
        )
        return termination_message(as_json(self._api, model))

    async def delete(self, name: str) -> None:
        try:
            await self._run(
                self._calls,
                self._core.delete_namespaced_pod,
                name,
                self._namespace,
                grace_period_seconds=self._tuning.delete_grace_seconds,
                propagation_policy="Background",
            )
        except CLIENT_ERRORS as exc:
            if isinstance(exc, ApiException) and exc.status == 404:
                return  # already gone: what delete wanted
            raise runtime_error(exc, verb="delete", namespace=self._namespace, name=name) from exc

    async def list(self, labels: Mapping[str, str]) -> list[WorkerInfo]:
        model = await self._call(
            "list",
            "",
            self._core.list_namespaced_pod,
            self._namespace,
            label_selector=label_selector(labels),
        )
        pods = as_json(self._api, model)
        return sorted((worker_info(pod) for pod in pods.get("items") or []), key=lambda w: w.name)

    async def watch(self, labels: Mapping[str, str]) -> AsyncGenerator[WorkerEvent]:
        """One namespace-wide watch by label selector (watch): a SNAPSHOT first and
        after a 410 Gone; a dropped watch resumes from its last version, missing nothing."""
        feed = PodFeed(
            self._api, self._namespace, label_selector(labels), self._tuning.watch_timeout_seconds
        )
        self._watchers.add(feed)
        try:
            run = functools.partial(self._run, self._watches)
            async with aclosing(follow(feed, run, self._retry())) as events:
                async for event in events:
                    yield event
        finally:
            self._watchers.discard(feed)

    def follow_output(
        self, spec: WorkerSpec, after: LogCursor
    ) -> AsyncIterator[Sequence[OutputLine]]:
        """logs: pods/log resumed by time and de-duplicated; every line is stdout."""
        log = PodLog(self._api, self._namespace, spec.name, self._tuning.watch_timeout_seconds)
        run = functools.partial(self._run, self._watches)
        return follow_pod_log(log, after, run, self._retry(spec.name), self._logs)

    async def close(self) -> None:
        self._closed = True
        for watcher in [*self._watchers, *self._logs]:
            watcher.stop()
        self._calls.shutdown(wait=False, cancel_futures=True)
        self._watches.shutdown(wait=False, cancel_futures=True)
        if self._owns_client:
            self._api.close()  # type: ignore[no-untyped-call]
