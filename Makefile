# Needs only Python 3.11+, make and a C toolchain: everything else lives in .venv, and
# PostgreSQL/Redis are embedded (under .data/) unless DATABASE_URL/REDIS_URL are set.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint format services stop clean bench .venv

run: .venv
	$(VENV)/bin/python scripts/dev.py run

test: .venv
	$(VENV)/bin/python scripts/dev.py test -- $(PYTEST_ARGS)

lint: .venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: .venv
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

services: .venv
	$(VENV)/bin/python scripts/dev.py services

# The side-by-side plan (HugMood and the Node reference, which it installs with npm); the
# embedded servers fill in whichever of DATABASE_URL / REDIS_URL is unset.
bench: .venv
	env $$($(VENV)/bin/python scripts/dev.py services) $(VENV)/bin/python -m loadtests.bench $(BENCH_ARGS)

# dev.py's stop needs only the standard library, so it works even without .venv.
stop:
	$(PYTHON) scripts/dev.py stop

clean: stop
	rm -rf $(VENV) .data

.venv: $(STAMP)

# Reinstall only when pyproject.toml changes; the stamp is written last, so a failed
# install is retried next time.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@
