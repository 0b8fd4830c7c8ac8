"""Thin Telegram glue: parse the update, call the domain in `bot/`, render with the catalogs, reply."""

import os

# Opt in to python-telegram-bot's future behaviour (durations as timedelta, e.g. RetryAfter.retry_after)
# instead of a deprecation warning on every 429; the code handles both.
os.environ.setdefault("PTB_TIMEDELTA", "1")
