# cloudsvc — `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export CLOUDSVC_DATABASE_URL ?= sqlite:///$(CURDIR)/cloudsvc.db
# A development-only token (refused when CLOUDSVC_ENVIRONMENT=production).
export CLOUDSVC_BOOTSTRAP_TOKEN ?= dev-bootstrap-token

.PHONY: help setup run test unit-test lint bench bench-openstack bench-planner clean runtime

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed ## Create the virtualenv and install cloudsvc with its test tools

run: setup ## Migrate the embedded SQLite database and serve the API on http://127.0.0.1:8000
	$(VENV)/bin/cloudsvc db upgrade
	$(VENV)/bin/cloudsvc serve --host 127.0.0.1 --port 8000

lint: setup ## ruff, mypy (strict) and the import-layer contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: setup lint ## Everything CI runs: lint, then all tests on SQLite and on a throwaway PostgreSQL database
	scripts/ensure-postgres.sh
	scripts/ensure-baseline-packages.sh
	scripts/ensure-prometheus.sh
	$(VENV)/bin/pytest

unit-test: setup ## Only the fast tests that need no database
	$(VENV)/bin/pytest tests/unit

bench: setup ## Run the benchmarks (PostgreSQL on 127.0.0.1:5432); each prints its figures and baseline ratio
	scripts/ensure-postgres.sh
	$(VENV)/bin/python -m bench.quota_admission
	$(VENV)/bin/python -m bench.metrics_scrape

bench-openstack: setup ## N servers through cloudsvc vs openstacksdk alone on the test OpenStack (tests/openstack/up.sh)
	scripts/ensure-postgres.sh
	tests/openstack/up.sh
	$(VENV)/bin/python -m bench.provision_openstack

bench-planner: setup ## Wave planner time and quality on 100 to 10,000 systems, against the CP-SAT optimum
	$(VENV)/bin/python -m bench.wave_planner

runtime: ## Install cloudsvc without test tools into RUNTIME_VENV (default /opt/cloudsvc), as the Dockerfile does
	scripts/install-runtime.sh $(or $(RUNTIME_VENV),/opt/cloudsvc)

clean: ## Remove the virtualenv, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis cloudsvc.db cloudsvc.db-*
