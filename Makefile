# One task runner for people and CI. `make run` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check shell clean mutate

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# jionlp unpacks its dictionaries into site-packages on its first whole-package import (a test does one): do it here.
	$(BIN)/python -c "import jionlp" >/dev/null
	@# Derived data the bot caches per machine (Traditional catalogs and tips, the city index, the chart's font): build it now too.
	$(BIN)/python -c "from bot.i18n import catalog; from bot.timezones import city_index; from bot.tip_library import library; from bot.fonts import warm_up; catalog(); city_index(); library(); warm_up()"
	@touch $(STAMP)

## run: set up and start the bot (Telegram with TELEGRAM_BOT_TOKEN, else the local chat shell)
run: $(STAMP)
	$(BIN)/agentcoach

## shell: chat with the bot in this terminal
shell: $(STAMP)
	$(BIN)/agentcoach shell

# The conversations that store client details, notes and reflections, run again with encryption at rest on
# (TEST_DATA_KEY=1: every test's database and settings use a fixed DATA_KEY; docs/encryption.md).
# (A short list: the suite must stay under 15 minutes on 2 cores; TEST_DATA_KEY=1 runs any other file with a key.)
KEYED_TESTS = tests/handlers/test_clients.py tests/handlers/test_reflections.py tests/handlers/test_client_import.py \
	tests/handlers/test_data.py

# One pytest worker per core (pytest-xdist): each worker has its own PostgreSQL database and SQLite folders
# (tests/conftest.py), and the end-to-end tests pick free ports, so they run side by side. The tests marked `serial`
# measure wall-clock throughput and run alone afterwards. On CI's 2 cores this takes the suite from about 16
# minutes to about 11 (docs/testing.md). WORKERS=0 runs the first part in one process too.
WORKERS ?= auto
PARALLEL = -n $(WORKERS) --dist worksteal
## test: the whole test suite (SQLite and PostgreSQL; the end-to-end tests need node), then the client and
## reflection conversations again with encryption at rest
test: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) -m "not serial"
	$(BIN)/python -m pytest -q -m serial
	TEST_DATA_KEY=1 $(BIN)/python -m pytest -q $(PARALLEL) $(KEYED_TESTS)

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

## mutate: mutation testing (mutmut, SQLite only, slow: not in CI; docs/testing.md). One module: MODULE=bot/timezones.py
MUTATE_MODULES := bot/scheduler.py bot/grouped.py bot/ownership.py bot/followups.py bot/recurring.py bot/reflections.py bot/timezones.py \
	bot/numerals.py bot/time_of_day.py bot/moods.py bot/week.py bot/weekly_summary.py bot/chart_ahead.py \
	bot/crypto.py bot/data_keys.py bot/client_import.py bot/teams.py bot/access.py bot/erasure.py bot/team_view.py \
	bot/send_budget.py bot/budget_stores.py bot/budget_report.py bot/stale.py bot/showings.py bot/showing_times.py \
	bot/bulk.py
MODULE ?= $(MUTATE_MODULES)
# Parallel mutants: 1 leaves the other core to whoever shares the machine.
JOBS ?= 1
mutate: $(STAMP)
	@# Its own cache directory: a mutant of bot/timezones.city_index may rebuild the city index again and again.
	TEST_BACKENDS=sqlite XDG_CACHE_HOME=$(CURDIR)/mutants/cache $(BIN)/mutmut run --max-children $(JOBS) $(foreach m,$(MODULE),"$(subst /,.,$(m:.py=)).*")
	@echo "module: mutants killed survived timeout no-tests other score (killed + timeout)"
	@$(BIN)/mutmut results --all true | awk -F': ' '{ split($$1, n, "."); m = n[1] "." n[2]; sub(/^ +/, "", m); \
		c[m]++; s[m, $$2]++ } END { for (m in c) if (index("$(subst /,.,$(MODULE))", m)) { \
		k = s[m, "killed"]; v = s[m, "survived"]; t = s[m, "timeout"]; z = s[m, "no tests"]; \
		printf "%s: %d %d %d %d %d %d %.1f%%\n", m, c[m], k, v, t, z, c[m] - k - v - t - z, 100 * (k + t) / c[m] } }'

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
