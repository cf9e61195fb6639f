# Carnet: `make run` starts the CRM with demo data, `make test` runs lint and the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
ASSETS_STAMP := src/carnet/web/static/lib/.installed
PG_URL := postgresql+psycopg://postgres@127.0.0.1:5432/test
REDIS_URL := redis://127.0.0.1:6379/0
SIZE ?= small
DB ?= sqlite

.PHONY: run test install assets chromium sysdeps lint format bench migration clean

install: $(PY_STAMP) $(ASSETS_STAMP) sysdeps

$(PY_STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

$(ASSETS_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p src/carnet/web/static/lib
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/sortablejs/Sortable.min.js src/carnet/web/static/lib/
	@touch $@

assets: $(ASSETS_STAMP)

# WeasyPrint (PDF documents) needs Pango; the tests read PDFs with pdftotext. Installed from Debian
# when running as root and missing.
SYS_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils
sysdeps:
	@missing=""; for p in $(SYS_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get install -y -qq $$missing >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $$missing)); \
	  else echo "note: missing Debian packages:$$missing (install them as root)"; fi; \
	fi

# Browser tests drive Debian's Chromium; install it when running as root without it.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)); \
	  else echo "note: /usr/bin/chromium missing and not root: browser tests will be skipped"; fi; \
	fi

run: install
	@mkdir -p var
	$(BIN)/carnet db upgrade
	$(BIN)/carnet demo load --if-empty --size small
	@echo ""
	@echo "  Carnet: http://127.0.0.1:$${CARNET_PORT:-8000}"
	@echo "  Demo login: admin@carnet.demo / carnet-demo-2026"
	@echo ""
	$(BIN)/carnet serve

lint: $(PY_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(PY_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# With CI=true the PostgreSQL/Redis run and the browser tests are mandatory.
test: install chromium lint
	$(PY) -m pytest
	@if [ "$$CI" = "true" ]; then \
	  export CARNET_TEST_DATABASE_URL=$${CARNET_TEST_DATABASE_URL:-$(PG_URL)} CARNET_TEST_REDIS_URL=$${CARNET_TEST_REDIS_URL:-$(REDIS_URL)} CARNET_REQUIRE_SERVICES=1; fi; \
	if [ -n "$$CARNET_TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL ($$CARNET_TEST_DATABASE_URL) and Redis ($${CARNET_TEST_REDIS_URL:-none}) =="; \
	  $(PY) -m pytest; \
	fi

bench: install
	$(PY) bench/run.py --size $(SIZE) --db $(DB) $(BENCH_ARGS)

# Regenerate a migration from the models: make migration MSG="add x"
migration: $(PY_STAMP)
	$(BIN)/alembic revision --autogenerate -m "$(MSG)"

clean:
	rm -rf $(VENV) node_modules src/carnet/web/static/lib
