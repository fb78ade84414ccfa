# Kubernetes targets: one kind cluster per developer, the image, the manifests in k8s/.
# Included by the Makefile; `make -f k8s.mk TARGET` works on its own too.
#
#   make setup-user USER=한진우  kind cluster ottoscaler-hanjinwoo, namespace hanjinwoo-dev
#   make build USER=<name>      docker build -t ottoscaler:dev, then kind load it
#   make deploy USER=<name>     k8s/overlays/kind (Ottoscaler + Temporal dev server +
#                               PostgreSQL) into the namespace <name>-dev; waits for all
#                               three to be ready
#   make logs | status | k8s-status | port-forward USER=<name>
#   make undeploy USER=<name>   removes Ottoscaler, Temporal and PostgreSQL from the namespace
#   make k8s-clean USER=<name>  deletes the whole kind cluster
#
# USER defaults to your login name. `make clean` (the Makefile's) removes the venv and the
# caches and never touches a cluster; k8s-clean is the one that deletes a cluster.
# Every kubectl call names the kind context, so no other cluster is ever touched.

# The folder of this file, so the targets work with `make -f path/to/k8s.mk` from anywhere.
K8S_TOOLS := $(dir $(lastword $(MAKEFILE_LIST)))tools
K8S_PYTHON ?= $(firstword $(wildcard .venv/bin/python) python3)
# The tag k8s/overlays/kind deploys.
K8S_IMAGE := ottoscaler:dev
LOGS_ARGS ?= --follow --tail=200

K8S_HINT_docker := see https://docs.docker.com/engine/install/ (Docker Desktop on macOS)
K8S_HINT_kind := see https://kind.sigs.k8s.io/docs/user/quick-start/ (brew install kind; or go install sigs.k8s.io/kind@latest)
K8S_HINT_kubectl := see https://kubernetes.io/docs/tasks/tools/ (brew install kubectl; or your distribution's kubectl package)

.PHONY: setup-user build deploy undeploy logs status k8s-status port-forward k8s-clean

# $(call k8s_need,TOOLS): stops the recipe, naming each absent tool and how to install it.
k8s_need = missing=; $(foreach tool,$(1),command -v $(tool) >/dev/null 2>&1 || { \
	echo "error: '$(tool)' is not installed or not on PATH, and this target needs it; $(K8S_HINT_$(tool))" >&2; \
	missing=1; };) test -z "$$missing" || exit 127

# kind and docker build need a running engine, not only the docker client.
k8s_need_engine = docker info >/dev/null 2>&1 || { \
	echo "error: docker is installed but its engine is not running or not reachable ('docker info' failed); start Docker and retry" >&2; \
	exit 1; }

# Shell variables name, cluster, context and ns for USER; stops the recipe if the name
# cannot become a DNS-1123 label (tools/romanize.py says why).
k8s_names = name="$$($(K8S_PYTHON) $(K8S_TOOLS)/romanize.py "$$USER")" || exit 2; \
	cluster="ottoscaler-$$name"; context="kind-$$cluster"; ns="$$name-dev"; \
	kubectl="kubectl --context $$context --namespace $$ns"

# The kind overlay moved into the user's namespace, with NAMESPACE (where worker pods are
# created, and what the Role grants) following it. kustomize wants a relative path.
k8s_user_overlay = dir="build/k8s/$$ns"; mkdir -p "$$dir"; \
	printf '%s\n' \
	  '\# Written by make deploy: k8s/overlays/kind in the namespace of USER.' \
	  'apiVersion: kustomize.config.k8s.io/v1beta1' \
	  'kind: Kustomization' \
	  "namespace: $$ns" \
	  'resources:' \
	  '  - ../../../k8s/overlays/kind' \
	  'patches:' \
	  '  - patch: |-' \
	  '      apiVersion: v1' \
	  '      kind: ConfigMap' \
	  '      metadata:' \
	  '        name: ottoscaler-config' \
	  '      data:' \
	  "        NAMESPACE: $$ns" >"$$dir/kustomization.yaml"

setup-user:
	@set -e; $(call k8s_need,docker kind kubectl); $(k8s_need_engine); $(k8s_names); \
	if kind get clusters 2>/dev/null | grep -qx "$$cluster"; then \
	  echo "kind cluster $$cluster exists already"; \
	else \
	  kind create cluster --name "$$cluster" --wait 120s; \
	fi; \
	kubectl --context "$$context" create namespace "$$ns" --dry-run=client --output=yaml \
	  | kubectl --context "$$context" apply --filename=-; \
	echo "ready: kind cluster $$cluster (kubectl context $$context), namespace $$ns"; \
	echo "next: make build deploy USER=$$name"

build:
	@set -e; $(call k8s_need,docker kind); $(k8s_need_engine); $(k8s_names); \
	docker build --tag $(K8S_IMAGE) .; \
	kind load docker-image $(K8S_IMAGE) --name "$$cluster"

deploy:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); $(k8s_user_overlay); \
	kubectl --context "$$context" apply --kustomize "$$dir"; \
	$$kubectl rollout status deployment/postgres --timeout=180s; \
	$$kubectl rollout status deployment/temporal --timeout=180s; \
	$$kubectl rollout status deployment/ottoscaler --timeout=180s

undeploy:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); $(k8s_user_overlay); \
	kubectl --context "$$context" delete --kustomize "$$dir" --ignore-not-found

# Every replica's log, each line prefixed with its pod.
logs:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); \
	$$kubectl logs --selector=app.kubernetes.io/name=ottoscaler --container=ottoscaler --prefix $(LOGS_ARGS)

# Ottoscaler, Temporal, PostgreSQL and the worker pods (label managed-by=ottoscaler).
status:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); \
	$$kubectl get deployments,pods,services --selector=app.kubernetes.io/part-of=otto --output=wide; \
	echo; echo "worker pods:"; \
	$$kubectl get pods --selector=managed-by=ottoscaler --output=wide

# The cluster as a whole, everything in the namespace, and its latest events.
k8s-status:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); \
	kubectl --context "$$context" cluster-info; \
	kubectl --context "$$context" get nodes --output=wide; \
	$$kubectl get all,configmaps,serviceaccounts,roles,rolebindings; \
	echo; echo "latest events:"; \
	$$kubectl get events --sort-by=.lastTimestamp | tail -n 20

# Both forwards run until Ctrl-C; if either one fails, the other is stopped too.
port-forward:
	@set -e; $(call k8s_need,kubectl); $(k8s_names); \
	echo "Ottoscaler gRPC on localhost:9090, Temporal Web UI on http://localhost:8233 (Ctrl-C stops)"; \
	$$kubectl port-forward service/ottoscaler 9090:9090 & grpc=$$!; \
	$$kubectl port-forward service/temporal 8233:8233 & ui=$$!; \
	trap 'kill $$grpc $$ui 2>/dev/null || true' EXIT; trap 'exit 130' INT TERM; \
	while kill -0 "$$grpc" 2>/dev/null && kill -0 "$$ui" 2>/dev/null; do sleep 1; done; \
	echo "error: a port-forward stopped (its message is above), so both are stopped" >&2; \
	exit 1

k8s-clean:
	@set -e; $(call k8s_need,kind); $(k8s_names); \
	kind delete cluster --name "$$cluster"; \
	rm -rf "build/k8s/$$ns"
