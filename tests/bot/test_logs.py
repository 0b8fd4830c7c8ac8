"""Logs as an operator's tools read them: LOG_FORMAT=json gives one JSON object per line with the record's
structured fields, the text format stays as it was, and no secret reaches either."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import REDACTED, configure_logging
from tests.command import run_agentcoach

TOKEN = "123456789:AAE-secret_part"


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handler: put back pytest's own afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def lines_logged(capsys: pytest.CaptureFixture[str], log_format: str, emit: object = None) -> list[str]:
    configure_logging("INFO", [TOKEN], log_format)
    log = logging.getLogger("agentcoach.test")
    log.info("update handled", extra={"update_id": 7, "handler": "followups.new_follow_up", "duration_ms": 8.25})
    log.warning("POST https://api.telegram.org/bot%s/sendMessage failed", TOKEN)
    log.info("a field with the token", extra={"url": f"https://api.telegram.org/bot{TOKEN}/getMe", "outcome": "ok"})
    try:
        raise RuntimeError(f"failed at /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("sweep failed")
    return capsys.readouterr().err.splitlines()


@pytest.mark.usefixtures("root_logging")
def test_json_lines_parse_and_carry_the_records_fields(capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_logged(capsys, "json")
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == 4, lines
    update = records[0]
    assert {k: update[k] for k in ("level", "logger", "message")} == {
        "level": "INFO",
        "logger": "agentcoach.test",
        "message": "update handled",
    }
    assert (update["update_id"], update["handler"], update["duration_ms"]) == (7, "followups.new_follow_up", 8.25)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", update["time"]), update["time"]
    assert "args" not in update and "msg" not in update and "exc_info" not in update  # LogRecord's own stay out
    assert records[2]["outcome"] == "ok"
    failed = records[3]
    assert failed["level"] == "ERROR" and isinstance(failed["exception"], str)
    assert failed["exception"].startswith("Traceback") and "RuntimeError" in failed["exception"]
    assert len(lines) == 4, "a traceback stays inside its one line"


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_format_shows_the_token(capsys: pytest.CaptureFixture[str], log_format: str) -> None:
    output = "\n".join(lines_logged(capsys, log_format))
    assert TOKEN not in output and "secret_part" not in output
    # The message and the exception's; in JSON the field too (the text format does not show fields).
    assert output.count(REDACTED) == (3 if log_format == "json" else 2)


@pytest.mark.usefixtures("root_logging")
def test_the_text_format_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    lines = lines_logged(capsys, "text")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO agentcoach\.test: update handled", lines[0]), lines[
        0
    ]
    assert lines[1].endswith(f"WARNING agentcoach.test: POST https://api.telegram.org/bot{REDACTED}/sendMessage failed")
    assert "Traceback (most recent call last):" in lines  # a traceback on lines of its own, as before


def test_the_command_logs_json_when_asked(tmp_path: Path) -> None:
    result = run_agentcoach(
        tmp_path, "db", "upgrade", LOG_FORMAT="json", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    assert records[-1]["message"] == "database schema is at head"
