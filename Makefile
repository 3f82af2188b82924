# `make run` and `make test` install what they need into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test check format demo demo-reset bench install clean chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m server serve --host $(HOST) --port $(PORT)

# No Meta account needed: the inbox, a stand-in for Meta's API and simulated customers, on data/demo.db.
demo: $(STAMP)
	$(PY) -m server demo --host $(HOST) --port $(PORT) --meta-port $(or $(META_PORT),8100)

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used).
chromium:
	@command -v chromium >/dev/null || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "hint: the browser tests need Chromium: sudo apt-get install chromium (skipped without it)"; fi; }

# Lint and formatting (ruff), then types (mypy --strict on server/, config in pyproject.toml);
# `make format` rewrites what the two ruff steps would refuse.
check: $(STAMP)
	$(VENV)/bin/ruff check server tests bench
	$(VENV)/bin/ruff format --check server tests bench
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix server tests bench
	$(VENV)/bin/ruff format server tests bench

test: $(STAMP) chromium
	$(PY) -m pytest $(PYTEST_ARGS)

# Figures, not tests: `make bench QUICK=1` for a run of about two minutes;
# DATABASE_URL=postgresql://… borrows that server for temporary databases (dropped after).
bench: $(STAMP)
	ulimit -n 65536 2>/dev/null || true; DATABASE_URL='$(DATABASE_URL)' QUICK='$(QUICK)' $(PY) -m bench.run

# Only what the build made: the virtualenv, packaging metadata and tool caches. Never data/
# (data/chat.db is the inbox's database, data/media its files).
clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find server tests bench -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

# Deletes the demo's database and files (nothing else), to start the demo from scratch.
demo-reset:
	rm -rf data/demo.db data/demo.db-wal data/demo.db-shm data/demo.db-journal data/demo-media
