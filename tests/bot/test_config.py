"""Settings: defaults, and a bad value stops start-up with one line naming the setting."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, SettingsError, load_settings, normalise_database_url
from bot.logs import REDACTED, RedactSecrets


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "DATABASE_URL",
        "TELEGRAM_API_BASE_URL",
        "DEFAULT_TIMEZONE",
        "DEFAULT_LANGUAGE",
        "LOG_LEVEL",
        "ACCESS",
        "ADMIN_IDS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))  # no stray .env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.token() is None
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.default_timezone, settings.default_language, settings.log_level) == (
        "Asia/Shanghai",
        "zh-Hans",
        "INFO",
    )


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    (Path(str(tmp_path)) / ".env").write_text("TELEGRAM_BOT_TOKEN=123:ABC\nDEFAULT_LANGUAGE=en\n", encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1/test")
    settings = load_settings()
    assert settings.token() == "123:ABC" and settings.default_language == "en"
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1/test"
    assert "123:ABC" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFAULT_TIMEZONE", "Mars/Base"),
        ("DEFAULT_LANGUAGE", "fr"),
        ("LOG_LEVEL", "LOUD"),
        ("DATABASE_URL", "mysql://root@localhost/x"),
        ("TELEGRAM_API_BASE_URL", "127.0.0.1:8081/bot"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("ACCESS", "closed"),
        ("ADMIN_IDS", "@boss, 123"),
        ("ADMIN_IDS", "12.5"),
        ("SEND_RATE", "0"),
        ("SEND_RATE", "thirty"),
        ("SEND_RATE", "5000"),
        ("REDIS_URL", "127.0.0.1:6379"),
    ],
)
def test_a_bad_value_names_the_setting_in_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"invalid setting {name}: ") and "\n" not in message
    if name == "TELEGRAM_BOT_TOKEN":
        assert value not in message


def test_database_urls_get_async_drivers() -> None:
    assert normalise_database_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert normalise_database_url("postgresql://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_the_token_is_scrubbed_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecrets(["123:SECRET"]))
    try:
        with caplog.at_level(logging.INFO, logger="test.redaction"):
            logger.info("POST %s", "http://127.0.0.1/bot123:SECRET/getUpdates")
            try:
                raise RuntimeError("failed at /bot123:SECRET/sendMessage")
            except RuntimeError:
                logger.exception("boom")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert "123:SECRET" not in text and text.count(REDACTED) >= 2


def test_access_and_admins(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.invite_only(), settings.admins()) == (False, frozenset())
    monkeypatch.setenv("ACCESS", " Invite ")
    monkeypatch.setenv("ADMIN_IDS", "123456789, 987654321;42")
    settings = load_settings()
    assert settings.invite_only() and settings.admins() == frozenset({123456789, 987654321, 42})


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("ACCESS", "closed", "invalid setting ACCESS: expected one of open, invite"),
        (
            "ADMIN_IDS",
            "@boss",
            "invalid setting ADMIN_IDS: expected Telegram user ids (digits), separated by commas, such as "
            "123456789,987654321",
        ),
    ],
)
def test_bad_access_settings_read_as_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"^{re.escape(line)}$"):
        load_settings()


def test_the_send_budget_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (settings.send_rate, settings.redis_url) == (30.0, None)
    monkeypatch.setenv("SEND_RATE", "25")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/2")
    settings = load_settings()
    assert (settings.send_rate, settings.redis_url) == (25.0, "redis://127.0.0.1:6379/2")
    monkeypatch.setenv("REDIS_URL", "")
    assert load_settings().redis_url is None
