# CHS — run `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run serve migrate demo test test-services lint format typecheck worker beat services bench clean

help:
	@echo "make run        install, migrate, load demo data once, serve at http://$(HOST):$(PORT)"
	@echo "make test       run the whole test suite"
	@echo "make lint       ruff check + format check + import direction (import-linter)"
	@echo "make typecheck  mypy with django-stubs"
	@echo "make worker     a Celery worker (needs CELERY_BROKER_URL)"
	@echo "make beat       the Celery beat scheduler (needs CELERY_BROKER_URL)"
	@echo "make services   start PostgreSQL and Redis on loopback (installing them if missing)"

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

migrate: install
	DEBUG=$${DEBUG-1} $(PY) manage.py migrate --noinput

demo: migrate
	DEBUG=$${DEBUG-1} $(PY) manage.py seed_demo

run: demo
	@echo "CHS is starting at http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	DEBUG=$${DEBUG-1} $(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite on PostgreSQL + Redis with real workers; a missing service fails the run.
test-services: install services
	DATABASE_URL=$${DATABASE_URL-postgresql://postgres@127.0.0.1:5432/chs} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL-redis://127.0.0.1:6379/0} \
	CHS_REQUIRE_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install
	CHS_TESTING=1 $(VENV)/bin/mypy .

worker: install
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker."; exit 2; }
	$(VENV)/bin/celery -A chs_site worker --loglevel=INFO --concurrency=$${CONCURRENCY-2}

beat: install
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run beat."; exit 2; }
	$(VENV)/bin/celery -A chs_site beat --loglevel=INFO

services:
	.ci/services

bench: install
	$(PY) manage.py bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var artifacts .pytest_cache .ruff_cache .mypy_cache .hypothesis
