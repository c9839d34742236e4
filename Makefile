# One toolchain, the same locally and in CI: `make run`, `make test`, `make demo`.
VENV ?= .venv
PY := $(VENV)/bin/python
MUNIJOBS := $(VENV)/bin/munijobs
STAMP := $(VENV)/.installed
DEMO_PORT ?= 8765

.PHONY: install run test lint format demo bench clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv and install munijobs with its pinned dependencies

run: install ## crawl every source into the database (SQLite munijobs.db by default), then print a summary
	@$(MUNIJOBS) crawl --all; rc=$$?; $(MUNIJOBS) status || true; exit $$rc

test: install lint ## lint, then the whole test suite (SQLite and PostgreSQL)
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

demo: install ## crawl the bundled NAV and Jobbnorge fixtures, served on 127.0.0.1 (ports DEMO_PORT and DEMO_PORT+1), into demo.db
	@rm -f demo.db demo.db-wal demo.db-shm
	@jobbnorge=http://127.0.0.1:$$(( $(DEMO_PORT) + 1 )); \
	$(PY) -m tests.fakes.jobbnorge_server --port $$(( $(DEMO_PORT) + 1 )) --nav-port $(DEMO_PORT) & server=$$!; \
	trap "kill $$server" EXIT; sleep 1; \
	DATABASE_URL=sqlite:///demo.db NAV_FEED_URL=http://127.0.0.1:$(DEMO_PORT)/nav NAV_FEED_LOOKBACK_DAYS=36500 \
	JOBBNORGE_API_URL=$$jobbnorge JOBBNORGE_DETAIL_URL=$$jobbnorge BRREG_API_URL=$$jobbnorge/enhetsregisteret/api \
	AUTOTHROTTLE_START_DELAY=0.1 RETRY_BACKOFF_BASE=0.1 \
	$(MUNIJOBS) crawl --all; \
	DATABASE_URL=sqlite:///demo.db $(MUNIJOBS) status || true; \
	echo "demo.db is ready: try  DATABASE_URL=sqlite:///demo.db $(MUNIJOBS) export --format csv -o -"

bench: install ## benchmarks: print figures (see bench/)
	$(PY) bench/normalise_speed.py
	$(PY) bench/normalise_accuracy.py
	$(PY) bench/renormalise.py
	$(PY) bench/nav_ingest.py
	$(PY) bench/jobbnorge_ingest.py
	$(PY) bench/export.py --rows 100000
	$(PY) bench/store.py
	$(PY) bench/search.py
	$(PY) bench/coverage.py --rows 100000
	$(PY) bench/dedup_thresholds.py
	$(PY) bench/dedup.py --postings 100000

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo.db* munijobs.db*
