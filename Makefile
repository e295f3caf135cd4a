# `make run` and `make test` are the only commands a fresh machine needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LOCK_VENV := $(or $(TMPDIR),/tmp)/outbound-ops-console-lock

.PHONY: run test lint seed bench clean lock rehearse

# requirements.txt is the lock: exact versions of the jobs, console and dev extras (see `make lock`).
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PY) not found)."; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m console serve

test: $(STAMP)
	sh scripts/ensure-system-packages.sh
	$(BIN)/python -m pytest -q

# The production path on 127.0.0.1 (PostgreSQL, OIDC, SMTP, the Databricks workspace emulator, worker, 2 UIs).
rehearse: $(STAMP)
	sh scripts/ensure-system-packages.sh
	$(BIN)/python -m rehearsal up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --config pyproject.toml

seed: $(STAMP)
	$(BIN)/python -m console seed

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# Regenerate the lock from pyproject.toml's ranges (pins already in it are kept unless they no longer fit).
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PY) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2; }
	$(LOCK_VENV)/bin/pip-compile --quiet --extra jobs --extra console --extra dev --strip-extras --no-emit-index-url \
		--no-emit-trusted-host --no-emit-find-links --output-file requirements.txt pyproject.toml

clean:
	rm -rf .data
