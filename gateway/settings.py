"""One settings model, read once from the environment; CLI flags override it.

The first four variables are the ones the old Go service had.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Where a process given neither OTTOSCALER_SIGNING_KEY nor a token keeps its signing key.
SIGNING_KEY_FILE = "signing.key"


class RuntimeKind(StrEnum):
    KUBERNETES = "kubernetes"
    LOCAL = "local"
    MOCK = "mock"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """Field names are the environment variable names, lower-cased."""

    # Errors never repeat what was given: some settings are keys and tokens. No duration is
    # infinite or NaN: a poll that never comes or a timedelta that overflows.
    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, hide_input_in_errors=True, allow_inf_nan=False
    )

    grpc_port: int = Field(9090, ge=0, le=65535)
    namespace: str = "default"
    otto_agent_image: str = "busybox:latest"
    log_level: str = "info"
    # json: one object a line with the pipeline, stage, worker and workflow ids.
    log_format: LogFormat = LogFormat.TEXT
    grpc_host: str = "127.0.0.1"
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "ottoscaler"
    # How often the gateway checks that Temporal answers; health and fail-fast follow it.
    temporal_check_seconds: float = Field(2.0, gt=0, le=60)
    # One progress query of a pipeline stream may take this long before it is tried again.
    progress_query_timeout_seconds: float = Field(30.0, gt=0, le=600)
    # A pipeline stream tries a Temporal call that keeps failing (timed out, Temporal
    # unreachable) this long, then ends UNAVAILABLE with a re-attach hint.
    stream_retry_seconds: float = Field(120.0, ge=0, le=3600)
    ottoscaler_runtime: RuntimeKind = RuntimeKind.LOCAL
    # The dev server's database, the log archive (logs/) and the local runtime's workers
    # (workers/, which outlive the process and are adopted by the next one).
    ottoscaler_data_dir: Path = Path(".ottoscaler")
    otto_handler_addr: str = ""
    # Lines of one pod forwarded to otto-handler ahead of its answers. 1 keeps every pod's
    # lines in order whatever otto-handler answers; more forward faster, and a line sent
    # after one otto-handler RETRYs may be accepted before it (docs/logs.md).
    otto_handler_log_window: int = Field(1, ge=1, le=1024)
    ottoscaler_auth_token: SecretStr | None = None
    # The token read from this file instead: a file keeps it out of the environment.
    ottoscaler_auth_token_file: Path | None = None
    # The key gateway and workers share to sign what they hand each other: the work the
    # gateway starts (activities/admission.py) and agents' credentials; or a file holding
    # it. Empty: derived from the auth token, else kept in <OTTOSCALER_DATA_DIR>/signing.key.
    ottoscaler_signing_key: SecretStr | None = None
    ottoscaler_signing_key_file: Path | None = None
    metrics_port: int = Field(9464, ge=0, le=65535)
    # The metrics endpoint's address; empty: the gateway's own (see metrics_bind_host).
    metrics_host: str = ""
    # Traces over OTLP to this collector (gateway/server/tracing.py); empty: no traces. The
    # exporters read the other OTEL_EXPORTER_OTLP_* variables themselves.
    otel_exporter_otlp_endpoint: str = ""
    otel_exporter_otlp_protocol: Literal["grpc", "http/protobuf"] = "http/protobuf"
    # The Temporal SDK's own metrics, served by the SDK on a port of its own on the same
    # host (gateway/temporal/telemetry.py); 0: not exported.
    temporal_metrics_port: int = Field(9465, ge=0, le=65535)
    max_workers_per_task: int = Field(50, ge=1)
    # Workers pending, running or being created at once, pipelines' and pools' together
    # (activities/capacity/): past it pipeline workers wait and ScaleUps are refused.
    max_workers: int = Field(500, ge=1)
    # Pool workers' command, shell words. Empty: the image's own command on kubernetes, a
    # short demo agent on local (gateway/pools/wire.py, DEFAULT_LOCAL_AGENT_COMMAND).
    otto_agent_command: str = ""
    # An agent's registration that has no StreamLogs call writing for it this long (it
    # never began, or its stream broke) is closed and frees its slot.
    agent_registration_ttl_seconds: float = Field(60.0, gt=0)
    # Log entries a second one agent may send (bursts of one second's worth); past it an
    # entry is answered RETRY. An int32 on the wire (LoggingConfig.rate_limit).
    agent_rate_limit: int = Field(1000, ge=1, le=2**31 - 1)
    # Finished pool workers stay listed this long, then they are deleted.
    worker_ttl_seconds: float = Field(300.0, ge=0)
    # The log archive (one JSONL file per pod); empty: <OTTOSCALER_DATA_DIR>/logs.
    # Unused when OTTOSCALER_DATABASE_URL is set: the archive is in PostgreSQL then.
    ottoscaler_log_dir: Path | None = None
    # PostgreSQL (a libpq URL; `?host=/dir` for a unix socket), where replicas keep what
    # they share: the log archive and otto-handler's forwarding positions (docs/scale-out.md).
    # Empty: files under the data dir, for one process.
    ottoscaler_database_url: SecretStr | None = None
    # Archived tasks (all pods complete and forwarded) untouched this long are deleted,
    # checked at start and hourly; 0 keeps them forever.
    log_retention_days: float = Field(0.0, ge=0)
    # How often a log stream looks at the file archive for lines written by another
    # process (with PostgreSQL, replicas notify each other instead).
    log_poll_seconds: float = Field(0.5, gt=0)
    # What one worker's log keeps at most; past it a marker line, then nothing (0: no limit).
    log_max_bytes_per_worker: int = Field(64 * 1024 * 1024, ge=0)
    # How long a followed pod that no pipeline or task names may take to appear.
    log_pod_wait_seconds: float = Field(60.0, gt=0)
    # The orphan reaper (docs/kubernetes.md#orphans): how often it sweeps, and the age
    # below which a worker is never deleted.
    reaper_interval_seconds: float = Field(300.0, ge=1)
    reaper_grace_seconds: float = Field(600.0, ge=0)
    # The owner of worker pods, <apiVersion>/<kind>/<name>/<uid>; empty: in a cluster,
    # Ottoscaler's own ReplicaSet (docs/kubernetes.md#owner).
    ottoscaler_owner: str = ""

    # Payload encryption (gateway/temporal/codec.py): AES keys, base64 of 16, 24 or 32 bytes,
    # comma-separated; the first encrypts what Ottoscaler writes to Temporal, every one
    # decrypts (rotation). Empty: payloads are written plain. The _FILE variant reads them
    # from a file (a mounted Kubernetes Secret).
    ottoscaler_payload_key: SecretStr | None = None
    ottoscaler_payload_key_file: Path | None = None
    # The codec endpoint (POST /encode, /decode) for the Web UI and `temporal
    # --codec-endpoint`, served while a payload key is set. It decrypts for whoever
    # reaches it: loopback unless told otherwise.
    codec_port: int = Field(9466, ge=0, le=65535)
    codec_host: str = "127.0.0.1"
    # Web UI origins a browser may call the codec endpoint from, comma-separated.
    codec_cors_origins: str = "http://localhost:8233,http://127.0.0.1:8233"

    # TLS (gateway/server/tls.py): certificate chain and key, PEM; with a client CA, mutual TLS.
    ottoscaler_tls_cert: Path | None = None
    ottoscaler_tls_key: Path | None = None
    ottoscaler_tls_client_ca: Path | None = None

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Settings:
        if self.ottoscaler_auth_token_file is not None:
            self.ottoscaler_auth_token = _secret_file(
                "OTTOSCALER_AUTH_TOKEN", self.ottoscaler_auth_token, self.ottoscaler_auth_token_file
            )
        if self.ottoscaler_signing_key_file is not None:
            self.ottoscaler_signing_key = _secret_file(
                "OTTOSCALER_SIGNING_KEY",
                self.ottoscaler_signing_key,
                self.ottoscaler_signing_key_file,
            )
        return self

    @model_validator(mode="after")
    def _tls_complete(self) -> Settings:
        if (self.ottoscaler_tls_cert is None) != (self.ottoscaler_tls_key is None):
            raise ValueError("OTTOSCALER_TLS_CERT and OTTOSCALER_TLS_KEY: give both or neither")
        if self.ottoscaler_tls_client_ca is not None and self.ottoscaler_tls_cert is None:
            raise ValueError("OTTOSCALER_TLS_CLIENT_CA needs OTTOSCALER_TLS_CERT and _KEY")
        return self

    @model_validator(mode="after")
    def _payload_keys_valid(self) -> Settings:
        if self.ottoscaler_payload_key is not None and self.ottoscaler_payload_key_file:
            raise ValueError(
                "OTTOSCALER_PAYLOAD_KEY and OTTOSCALER_PAYLOAD_KEY_FILE: give one or neither"
            )
        self._read_payload_keys()  # a bad key stops the start, not the first payload
        return self

    @property
    def grpc_bind_host(self) -> str:
        """GRPC_HOST, except that the local runtime, which runs commands on this host,
        listens on loopback only unless calls need the auth token (docs/operations.md)."""
        if self.ottoscaler_runtime is RuntimeKind.LOCAL and self.auth_token is None:
            return "127.0.0.1"
        return self.grpc_host

    @property
    def metrics_bind_host(self) -> str:
        """METRICS_HOST, else where the gateway itself listens: metrics never listen wider
        than the gateway unless told to."""
        return self.metrics_host or self.grpc_bind_host

    @property
    def auth_token(self) -> str | None:
        """OTTOSCALER_AUTH_TOKEN; None when unset or empty."""
        token = self.ottoscaler_auth_token
        return token.get_secret_value() or None if token else None

    @property
    def database_url(self) -> str | None:
        """OTTOSCALER_DATABASE_URL; None when unset or empty."""
        url = self.ottoscaler_database_url
        return url.get_secret_value() or None if url else None

    @property
    def signing_key(self) -> bytes:
        """OTTOSCALER_SIGNING_KEY (or its file); else derived from the auth token, so
        processes that share the token share the key; else the random key kept in the data
        dir, so that `ottoscaler up` (and processes sharing that directory) keeps running
        what it signed after a restart. Never logged, never in a workflow's history."""
        key = self.ottoscaler_signing_key
        if key is not None and key.get_secret_value():
            return key.get_secret_value().encode()
        token = self.auth_token
        if token is not None:
            return hmac.new(token.encode(), b"ottoscaler signing key", hashlib.sha256).digest()
        return kept_key(self.ottoscaler_data_dir / SIGNING_KEY_FILE)

    @property
    def payload_keys(self) -> list[bytes]:
        """The payload keys, the encrypting one first; none when unset or empty."""
        return self._read_payload_keys()

    def _read_payload_keys(self) -> list[bytes]:
        """A key that is not base64 of 16, 24 or 32 bytes is named by its place, never shown."""
        if self.ottoscaler_payload_key_file is not None:
            try:
                text = self.ottoscaler_payload_key_file.read_text()
            except OSError as err:
                raise ValueError(f"OTTOSCALER_PAYLOAD_KEY_FILE: {err.strerror}") from None
        else:
            given = self.ottoscaler_payload_key
            text = given.get_secret_value() if given else ""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        keys = []
        for place, part in enumerate(parts, 1):
            try:
                key = base64.b64decode(part, validate=True)
            except binascii.Error:
                key = b""
            if len(key) not in (16, 24, 32):
                raise ValueError(
                    f"OTTOSCALER_PAYLOAD_KEY: key {place} of {len(parts)} is not base64 of "
                    "16, 24 or 32 bytes (make one with: openssl rand -base64 32)"
                )
            keys.append(key)
        return keys

    @property
    def codec_origins(self) -> set[str]:
        return {o.strip() for o in self.codec_cors_origins.split(",") if o.strip()}

    @property
    def log_dir(self) -> Path:
        return self.ottoscaler_log_dir or self.ottoscaler_data_dir / "logs"

    def describe(self) -> str:
        """One line per setting, secrets masked, for the start-up log: the values used,
        unset ones empty as in the environment (the log dir too, when PostgreSQL holds
        the archive)."""
        used_log_dir = "" if self.database_url else self.log_dir
        shown: dict[str, Any] = self.model_dump() | {"ottoscaler_log_dir": used_log_dir}
        return "\n".join(
            f"  {key.upper()}={'' if value is None else value}" for key, value in shown.items()
        )


def settings_problems(invalid: ValidationError) -> str:
    """What is wrong with the settings, one line each, named as the environment names them;
    never the values given (some are keys and tokens)."""
    lines = []
    for error in invalid.errors(include_input=False, include_url=False):
        message = error["msg"].removeprefix("Value error, ")
        names = ".".join(str(part) for part in error["loc"]).upper()
        lines.append(f"{names}: {message}" if names else message)
    return "\n".join(lines)


def _secret_file(name: str, given: SecretStr | None, path: Path) -> SecretStr:
    """The secret in path, surrounding whitespace dropped; name and name_FILE exclude each other."""
    if given is not None and given.get_secret_value():
        raise ValueError(f"{name} and {name}_FILE: give one or the other")
    try:
        text = path.read_text().strip()
    except OSError as err:
        raise ValueError(f"{name}_FILE: cannot read {path}: {err.strerror}") from err
    if not text:
        raise ValueError(f"{name}_FILE: {path} is empty")
    return SecretStr(text)


def kept_key(path: Path) -> bytes:
    """The random key in path (0600), made by whichever process needs it first. It is
    written to a private file and then linked into place, so no process reads half a key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process was first: its key is the one
        finally:
            draft.unlink()
    return path.read_text().strip().encode()
