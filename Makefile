# CHS — run `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install install-dev lock run serve migrate demo test test-services lint format typecheck worker beat services bench clean

help:
	@echo "make run        install, migrate, load demo data once, serve at http://$(HOST):$(PORT)"
	@echo "make serve      the production stack here: gunicorn, workers, beat (PostgreSQL + Redis)"
	@echo "make test       run the whole test suite"
	@echo "make lint       ruff check + format check + import direction (import-linter)"
	@echo "make typecheck  mypy with django-stubs"
	@echo "make worker     a Celery worker (needs CELERY_BROKER_URL)"
	@echo "make beat       the Celery beat scheduler (needs CELERY_BROKER_URL)"
	@echo "make services   start PostgreSQL and Redis on loopback (installing them if missing)"
	@echo "make lock       pin every dependency in constraints.txt (after changing pyproject.toml)"

# Two installs, both pinned by constraints.txt (`make lock` regenerates it): `make run` and
# `make serve` need only the runtime dependencies; tests, lint and typecheck add the dev tools.
PIP_INSTALL := $(VENV)/bin/pip install --quiet --disable-pip-version-check -c constraints.txt

$(VENV)/.runtime: pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP_INSTALL) -e ".[dev]"
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# constraints.txt: every package (runtime and dev, with its dependencies) pinned. Rerun after
# changing a dependency in pyproject.toml: pins that still fit are kept, new ones added;
# `make lock UPGRADE=1` moves everything to the newest versions the ranges allow.
lock:
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check "pip-tools>=7.4,<8"
	$(VENV)/bin/pip-compile --quiet --extra dev --strip-extras --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
	    --output-file constraints.txt pyproject.toml

# A secret key made once per checkout, so sessions survive a restart of `make run`.
var/secret_key:
	mkdir -p var
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' >$@
	chmod 600 $@

# The key that encrypts stored credentials (chs_site.secrets), made once per checkout too.
var/encryption_key:
	mkdir -p var
	$(PYTHON) -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' >$@
	chmod 600 $@

# `make run` serves as production does (DEBUG=0: CHS's own 404 and 500 pages, static files
# collected and served by WhiteNoise) on plain http://, so its cookies are not Secure and
# requests are not redirected to https; its log lines are plain text for a terminal.
RUN_ENV = DEBUG=$${DEBUG-0} SECRET_KEY=$${SECRET_KEY-$$(cat var/secret_key)} \
	ENCRYPTION_KEY=$${ENCRYPTION_KEY-$$(cat var/encryption_key)} \
	SECURE_COOKIES=$${SECURE_COOKIES-0} SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT-0} \
	LOG_FORMAT=$${LOG_FORMAT-plain}

migrate: install var/secret_key var/encryption_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput

demo: migrate
	$(RUN_ENV) $(PY) manage.py seed_demo

run: demo
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	@echo "CHS is starting at http://$(HOST):$(PORT)/ (Ctrl-C stops it)"
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

# The production stack on this machine: PostgreSQL + Redis (DATABASE_URL, CELERY_BROKER_URL,
# SECRET_KEY), DEBUG=0, migrations first, then the Procfile under honcho. On plain
# http://$(HOST) cookies cannot be Secure nor requests redirected to https, so both default to
# off here; behind TLS set SECURE_COOKIES=1 (and SECURE_SSL_REDIRECT=1). `exec`: make's
# SIGTERM reaches honcho itself, which stops every process.
serve: install
	exec env PATH="$(CURDIR)/$(VENV)/bin:$$PATH" HOST=$(HOST) PORT=$(PORT) DEBUG=0 \
	SECURE_COOKIES=$${SECURE_COOKIES-0} SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT-0} bin/serve

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite on PostgreSQL + Redis with real workers; a missing service fails the run.
test-services: install-dev services
	DATABASE_URL=$${DATABASE_URL-postgresql://postgres@127.0.0.1:5432/chs} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL-redis://127.0.0.1:6379/0} \
	CHS_REQUIRE_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install-dev
	CHS_TESTING=1 $(VENV)/bin/mypy .

worker: install
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker."; exit 2; }
	$(VENV)/bin/celery -A chs_site worker --loglevel=INFO --concurrency=$${CONCURRENCY-2}

beat: install
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run beat."; exit 2; }
	$(VENV)/bin/celery -A chs_site beat --loglevel=INFO

services:
	.ci/services

bench: install-dev
	$(PY) manage.py bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var artifacts .pytest_cache .ruff_cache .mypy_cache .hypothesis
