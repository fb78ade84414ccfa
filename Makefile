# One-command set-up, run and test. Every target installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock run test fmt lint proto histories bench clean

PIP := $(BIN)/pip install --quiet --disable-pip-version-check
# The lock's tool, pinned: `make lock` gives the same file on any machine.
UV := uv==0.13.9

# Re-installs only when the project's dependencies change. The versions are the lock's
# (requirements.lock); the project itself goes in after, editable, adding nothing.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -r requirements.lock
	$(PIP) --no-deps -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Pins every runtime and dev dependency anew (the newest that pyproject.toml allows), for
# every platform and Python >= 3.11. Run it after changing the dependencies in pyproject.toml.
# Releases of the last 7 days are left out: PyPI's index that pip reads may not list them
# yet (a lock pinning one fails `make install`), and a bad release is often yanked by then.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) '$(UV)'
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--exclude-newer "$$(date -u -d '7 days ago' +%Y-%m-%d)" --upgrade --quiet \
		-o requirements.lock

run: install
	$(BIN)/ottoscaler up $(ARGS)

# Tests in TEST_WORKERS processes (pytest-xdist), each with its own Temporal dev server and
# PostgreSQL: most tests wait on servers and processes, so 3 beat 2 on 2 cores.
# TEST_WORKERS=0 runs them in this process, one after another.
TEST_WORKERS ?= 3

test: install
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

proto: install
	$(BIN)/python -m tools.protogen

histories: install
	$(BIN)/python -m tests.histories.record

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .ottoscaler .pytest_cache .mypy_cache .ruff_cache build *.egg-info

# Cluster targets (kind, docker, kubectl): setup-user, build, deploy, logs, status, ...
include k8s.mk
