# syntax=docker/dockerfile:1
# Ottoscaler's in-cluster image: `ottoscaler serve` runs the gRPC gateway (:9090) and the
# Temporal worker against an external Temporal, configured by environment (k8s/base).
# Build: docker build -t ottoscaler:dev .   (or `make build USER=<name>` for kind)

# Both stages must share one Python: the venv is copied over with its interpreter paths.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, from pyproject.toml alone, so that editing the code does not
# reinstall them: the empty package directories only let this first install succeed,
# and the second install below replaces the empty package. The runtime dependencies
# get the versions of requirements.lock (a constraint: its dev tools are not installed).
COPY pyproject.toml README.md requirements.lock ./
RUN mkdir -p workflows activities gateway proto/ottoscaler \
    && pip install -c requirements.lock .
COPY workflows/ workflows/
COPY activities/ activities/
COPY gateway/ gateway/
COPY proto/ proto/
RUN pip install --no-deps . \
    && ottoscaler --help >/dev/null

FROM ${PYTHON_IMAGE}
# A fixed, numeric UID: the Deployment's runAsUser and runAsNonRoot check against it.
ARG UID=10001
RUN groupadd --system --gid "${UID}" ottoscaler \
    && useradd --system --uid "${UID}" --gid ottoscaler --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin ottoscaler \
    && mkdir -p /var/lib/ottoscaler \
    && chown ottoscaler:ottoscaler /var/lib/ottoscaler
COPY --from=builder /opt/venv /opt/venv
# No .pyc writes: the root filesystem is read-only in the cluster. The gateway listens
# on every interface of the container (its default, loopback, suits only a laptop).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRPC_HOST=0.0.0.0 \
    OTTOSCALER_DATA_DIR=/var/lib/ottoscaler
USER ${UID}:${UID}
WORKDIR /var/lib/ottoscaler
# gRPC (gateway, health), and Prometheus metrics: Ottoscaler's and the Temporal SDK's.
EXPOSE 9090 9464 9465
ENTRYPOINT ["ottoscaler"]
CMD ["serve"]
