"""Logging set-up: plain text for people, one JSON object per line for log collectors (LOG_FORMAT).

The bot token is part of every Bot API URL, so every secret is scrubbed from every record before any formatter
sees it: from the message, the traceback and any structured field a record carries (`extra=`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "<redacted>"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord has (vars of a fresh one: msg, args, created, taskName on 3.12 …) plus what formatting adds;
# any other attribute came from `extra=` and is a field of its own in a JSON line.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured fields a record was given (`log.info(..., extra={"update_id": 7})`), in the order given."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES}


class RedactSecrets(logging.Filter):
    """Replace each secret in a record's rendered message, traceback and text fields with a marker."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        record.msg, record.args = self._scrub(record.getMessage()), None
        for key, value in extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self._scrub(value))
        return True


class JsonLines(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, then every `extra=` field at the
    top level (update_id, handler, duration_ms, outcome …), and a traceback as one string, `exception`.

    A small formatter rather than python-json-logger (4.2): that one formats a traceback again from `exc_info`,
    past the redacted text the filter left, and would be a dependency for thirty lines (docs/operations.md).
    The four fixed keys win over an `extra=` field of the same name. Values JSON cannot hold are written as str().
    """

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter LOG_FORMAT names: "text" (default) or "json"."""
    return JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, secrets: Iterable[str] = (), log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(log_format))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL (token included) at INFO; keep it to warnings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # The sweep job runs one at a time by design (max_instances=1) and keeps sweeping while a wave lasts, so
    # APScheduler's "skipped: maximum number of running instances reached" each second is expected, not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
