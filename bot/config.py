"""Settings from the environment (and an optional `.env`), validated once at start-up.

A bad value must stop the bot with one clear line naming the setting, so every field is validated here
rather than where it is first used.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.clock import Clock, ShiftedClock, SystemClock
from bot.crypto import Keyring, parse_keys
from bot.i18n import LANGUAGES
from bot.statuses import Access

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/agentcoach.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    """What an operator can set; every field has a sensible default except the token."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str | None = None
    default_timezone: str = "Asia/Shanghai"
    default_language: str = "zh-Hans"
    log_level: str = "INFO"
    # "text" for people, "json" (one object per line) for log collectors.
    log_format: str = "text"
    # Webhook mode (`agentcoach run --webhook`, runtime/webhook.py): the public https URL Telegram posts to (its
    # path is the route served), where this process listens behind the reverse proxy, and the secret Telegram
    # sends back in X-Telegram-Bot-Api-Secret-Token.
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080
    telegram_webhook_secret: SecretStr | None = None
    webhook_max_connections: int = 40
    webhook_max_body_bytes: int = 1_048_576
    # Who may use the bot (bot.statuses.Access): "open" for one agent trying it, "invite" for a brokerage (only
    # those who came with an invite link; a stranger gets one polite line and nothing is stored about them).
    access: str = "open"
    # Telegram user ids of the admins (who create teams and invites in the chat with /team): "123,456".
    admin_ids: str = ""
    # Encryption at rest (bot/crypto.py, docs/encryption.md): one or more Fernet keys separated by commas, the
    # first encrypts and all decrypt (a new key goes first until `agentcoach data rotate-key` has run). Unset:
    # client details and reflections are stored in plaintext, as start-up says once.
    data_key: SecretStr | None = None
    # Telegram's limit for the whole deployment, messages/s over every process (runtime/send_budget.py); each
    # chat gets at most one message a second on top. Shared through PostgreSQL, or Redis where REDIS_URL is set.
    send_rate: float = 30.0
    redis_url: str | None = None
    # For end-to-end tests and demos only: run as if it were this many seconds later.
    clock_offset_seconds: float = 0.0

    @field_validator("telegram_bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            bot_id, _, secret = value.get_secret_value().partition(":")
            if not bot_id.isdigit() or not secret:
                raise ValueError("expected the form 123456789:ABC… from @BotFather")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        value = normalise_database_url(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("expected sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in ("", None):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as http://127.0.0.1:8081/bot")
        return value.rstrip("/")

    @field_validator("default_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Shanghai") from None
        return value

    @field_validator("default_language")
    @classmethod
    def _supported_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"expected one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value.lower() not in LOG_FORMATS:
            raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}")
        return value.lower()

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value in ("", None):
            return None
        assert value is not None
        if not value.startswith(("https://", "http://")) or "://" not in value or not value.split("://", 1)[1]:
            raise ValueError("expected the public URL Telegram posts to, such as https://bot.example.com/telegram")
        return value.rstrip("/")

    @field_validator("telegram_webhook_secret", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("expected 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("webhook_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError("expected a TCP port, 1-65535")
        return value

    @field_validator("webhook_max_connections")
    @classmethod
    def _max_connections(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError("expected 1-100 (Telegram's range)")
        return value

    @field_validator("webhook_max_body_bytes")
    @classmethod
    def _max_body(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("expected at least 1024 bytes")
        return value

    @field_validator("access")
    @classmethod
    def _access(cls, value: str) -> str:
        if value.strip().lower() not in tuple(Access):
            raise ValueError(f"expected one of {', '.join(Access)}")
        return value.strip().lower()

    @field_validator("admin_ids")
    @classmethod
    def _admin_ids(cls, value: str) -> str:
        words = [word for word in re.split(r"[\s,;]+", value) if word]
        if not all(word.isdigit() for word in words):
            raise ValueError("expected Telegram user ids (digits), separated by commas, such as 123456789,987654321")
        return ",".join(words)

    @field_validator("data_key", mode="before")
    @classmethod
    def _empty_data_key_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("data_key")
    @classmethod
    def _data_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())  # its KeyFormatError (a ValueError) is the one line
        return value

    @field_validator("send_rate")
    @classmethod
    def _send_rate(cls, value: float) -> float:
        if not 1 <= value <= 1000:
            raise ValueError("expected messages per second, 1-1000 (Telegram allows about 30 per bot)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in ("", None):
            return None
        assert value is not None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db, such as redis://127.0.0.1:6379/0")
        return value

    def keyring(self) -> Keyring | None:
        """The data keys to encrypt with, or None without DATA_KEY."""
        return Keyring.from_setting(self.data_key.get_secret_value()) if self.data_key else None

    def admins(self) -> frozenset[int]:
        """The admins' Telegram user ids."""
        return frozenset(int(word) for word in self.admin_ids.split(",") if word)

    def invite_only(self) -> bool:
        return self.access == Access.INVITE

    def webhook_secret(self) -> str | None:
        return self.telegram_webhook_secret.get_secret_value() if self.telegram_webhook_secret else None

    def webhook_path(self) -> str:
        """The route Telegram's POSTs arrive on: the path of WEBHOOK_URL ("/telegram" while none is set)."""
        if self.webhook_url is None:
            return "/telegram"
        return "/" + self.webhook_url.split("://", 1)[1].partition("/")[2].split("?")[0]

    def clock(self) -> Clock:
        if self.clock_offset_seconds:
            return ShiftedClock(timedelta(seconds=self.clock_offset_seconds))
        return SystemClock()

    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    def sqlite_path(self) -> Path | None:
        """The SQLite file, so its folder can be created before the first connection."""
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            return Path(self.database_url.removeprefix(prefix).split("?")[0])
        return None


def normalise_database_url(url: str) -> str:
    """Accept the URLs operators paste (postgres://, postgresql://, sqlite:///) and pick our async drivers."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url.removeprefix(plain)
    return url


class SettingsError(Exception):
    """A setting has a bad value; the message is the one line an operator needs."""


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning pydantic's report into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None
