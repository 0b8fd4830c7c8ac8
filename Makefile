# One task runner for people and CI. `make run` and `make test` work on a fresh machine with Python >= 3.11.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check shell clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@# jionlp unpacks its dictionaries into site-packages on its first whole-package import (a test does one): do it here.
	$(BIN)/python -c "import jionlp" >/dev/null
	@# Derived data the bot caches per machine (Traditional catalogs and tips, the city index): build it now too.
	$(BIN)/python -c "from bot.i18n import catalog; from bot.timezones import city_index; from bot.tip_library import library; catalog(); city_index(); library()"
	@touch $(STAMP)

## run: set up and start the bot (Telegram with TELEGRAM_BOT_TOKEN, else the local chat shell)
run: $(STAMP)
	$(BIN)/agentcoach

## shell: chat with the bot in this terminal
shell: $(STAMP)
	$(BIN)/agentcoach shell

## test: the whole test suite (SQLite and PostgreSQL; the end-to-end tests need node)
test: $(STAMP)
	$(BIN)/python -m pytest

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
