# One-command set-up, run and test. Every target installs what it needs itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fmt lint proto histories bench clean

# Re-installs only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/ottoscaler up $(ARGS)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

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
