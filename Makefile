# Estate: `make run` to try it, `make test` to test it. See README.md.
SHELL := /bin/bash
PYTHON ?= $(shell scripts/find-python)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check-deploy bench bench-load bench-smoke clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Estate needs Python 3.12 or newer; none was found." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Try it: SQLite under var/ and Celery on the filesystem unless DATABASE_URL / REDIS_URL are set.
run: export DEBUG ?= true
run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py load_demo
	scripts/run

# The whole suite. With DATABASE_URL / REDIS_URL set it runs on PostgreSQL and Redis;
# without them on SQLite, and the summary says which tests were skipped and why.
test: export DEBUG ?= true
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

# Production settings must pass Django's deployment checklist with no warning, and collect statics.
check-deploy: $(STAMP)
	DEBUG=false SECRET_KEY=$$(openssl rand -hex 40) ALLOWED_HOSTS=estate.example.com \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING
	DEBUG=false SECRET_KEY=collect ALLOWED_HOSTS=estate.example.com STATIC_ROOT=$$(mktemp -d) \
	  $(BIN)/python manage.py collectstatic --no-input -v0

bench: export DEBUG ?= true
bench: $(STAMP)
	$(BIN)/python bench/bench_inventory.py

# Load test (issue 6): locust from requirements-bench.txt into the same .venv, then gunicorn on
# loopback under 50 browser users and 10 ingest clients for 60 s; writes "## Load" in bench/RESULTS.md.
# Recreates the PostgreSQL database estate_load; uses REDIS_URL when it is set.
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench-load: $(BENCH_STAMP)
	$(BIN)/python bench/bench_load.py $(BENCH_ARGS)

# Every bench/bench_*.py at a small size (CI): fails when one crashes, not on timings this small.
# PostgreSQL and Redis; wipes BENCH_DATABASE_URL (default estate_bench_smoke) and flushes BENCH_REDIS_URL (db 15).
bench-smoke: $(BENCH_STAMP)
	$(BIN)/python scripts/bench-smoke

clean:
	rm -rf $(VENV) var staticfiles test-artifacts
