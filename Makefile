# Eldonia-Nex Live — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test lint bench bench-http manage services-up services-down clean-data

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[test]"
	@touch $@

## Run the whole system: embedded services (unless DATABASE_URL/REDIS_URL are set),
## migrations, demo data, the ASGI server + Celery worker + Celery beat + the local
## nginx-rtmp ingest (when nginx and its rtmp module are installed). Ctrl-C stops all.
run: $(VENV)/.installed
	$(PY) scripts/run.py

## Run the whole test suite against real PostgreSQL, Redis, Daphne, Celery, nginx-rtmp
## and Chromium. Pass pytest arguments with ARGS="tests/chat -x".
test: $(VENV)/.installed
	$(PY) scripts/services.py run -- scripts/test.sh $(ARGS)

## manage.py in make run's environment (embedded services, DEBUG=1 unless set):
## make manage ARGS=createsuperuser
manage: $(VENV)/.installed
	$(PY) scripts/manage.py $(ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed
	$(PY) scripts/services.py run -- scripts/bench.sh

## The HTTP benchmark alone (bench/http_bench.py: wrk against a Django floor, the
## webhook burst); flags in HTTP_BENCH_ARGS, e.g. HTTP_BENCH_ARGS="--duration 5".
bench-http: $(VENV)/.installed
	$(PY) scripts/services.py run -- $(PY) bench/http_bench.py $(HTTP_BENCH_ARGS)

services-up: $(VENV)/.installed
	@$(PY) scripts/services.py up

services-down: $(VENV)/.installed
	$(PY) scripts/services.py down

clean-data: services-down
	rm -rf .data
