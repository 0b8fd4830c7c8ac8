"""Encryption at rest: the `DATA_KEY` keys, the column type that encrypts on the way in and decrypts on the way out,
and the keyed hash that still lets a phone number be looked up exactly.

`DATA_KEY` is one or more Fernet keys (cryptography's AES-128-CBC + HMAC-SHA256 tokens, a random IV each time),
separated by commas: the first encrypts, every one decrypts (MultiFernet), so a new key goes first and the old
one stays after it until `agentcoach data rotate-key` has re-encrypted everything. A stored value is
`MARK + key id + ":" + token`; MARK is a control character, which `bot.text.clean` removes from every text before
it is stored, so no plaintext can ever look like a token (a database written without a key is read as it is, and
rotate-key encrypts it). The key id (8 hex digits of a SHA-256 of the key) says which key a row is under without
decrypting it, so "how many rows are not under the current key" is a plain SQL count.

Which keys an engine uses is attached to its dialect (`attach`), which is what a column type sees: the ORM, Core
statements and `bot/bulk.py`'s bulk inserts all go through the same bind and result processors. No keys attached:
values pass through untouched (clean only), as before encryption existed.

Phone numbers are hashed with HMAC-SHA256 under a random hash key kept (encrypted) in the `data_keys` row, not
derived from DATA_KEY: rotating the data key leaves every phone hash as it was.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Connection, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.types import TypeDecorator

from bot.text import clean

# Starts every encrypted value; `clean` drops control characters, so typed text never starts with it.
MARK: Final = "\x1e"
KEY_ID_LENGTH: Final = 8
_PREFIX_LENGTH: Final = len(MARK) + KEY_ID_LENGTH + 1


class KeyFormatError(ValueError):
    """DATA_KEY is not a list of Fernet keys; the message is the one line an operator needs."""


def new_key() -> str:
    """A fresh random key, in DATA_KEY's format."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(value: str) -> list[bytes]:
    """'k1,k2' → the keys (urlsafe base64 of 32 random bytes each, as `new_key` prints), first = current."""
    words = [word.strip() for word in value.replace(";", ",").split(",") if word.strip()]
    if not words:
        raise KeyFormatError("expected one or more keys separated by commas (make one with `agentcoach data new-key`)")
    keys: list[bytes] = []
    for number, word in enumerate(words, start=1):
        try:
            raw = base64.urlsafe_b64decode(word.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32:
            where = "" if len(words) == 1 else f" (key {number} of {len(words)})"
            raise KeyFormatError(
                f"a key is 44 characters of URL-safe base64 (32 bytes), as `agentcoach data new-key` prints{where}"
            )
        if word.encode("ascii") in keys:
            raise KeyFormatError(f"key {number} is given twice")
        keys.append(word.encode("ascii"))
    return keys


def key_id(key: bytes) -> str:
    """A short public name for a key: 8 hex digits of SHA-256, enough to tell a handful of keys apart."""
    return hashlib.sha256(b"agentcoach data key id:" + key).hexdigest()[:KEY_ID_LENGTH]


def is_token(stored: str) -> bool:
    """Whether a stored value is encrypted (else it is plaintext from before a key was set)."""
    return stored.startswith(MARK)


def stored_key_id(stored: str) -> str | None:
    """The id of the key a stored value is under; None for plaintext."""
    return stored[len(MARK) : len(MARK) + KEY_ID_LENGTH] if is_token(stored) else None


class UnknownKey(Exception):
    """A stored value is under a key DATA_KEY does not hold (or was altered)."""


@dataclass
class Keyring:
    """The keys of one DATA_KEY value; `hash_key` is read from the database (bot.data_keys) on first need."""

    keys: Sequence[bytes]
    ids: tuple[str, ...] = field(init=False)
    hash_key: bytes | None = None
    _fernets: dict[str, Fernet] = field(init=False, repr=False)
    _current: MultiFernet = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ids = tuple(key_id(key) for key in self.keys)
        self._fernets = {kid: Fernet(key) for kid, key in zip(self.ids, self.keys, strict=True)}
        self._current = MultiFernet([self._fernets[kid] for kid in self.ids])

    @classmethod
    def from_setting(cls, value: str) -> Keyring:
        return cls(parse_keys(value))

    @property
    def current_id(self) -> str:
        return self.ids[0]

    def prefix(self) -> str:
        """What every value encrypted under the current key starts with (for SQL counts: LIKE prefix || '%')."""
        return f"{MARK}{self.current_id}:"

    def encrypt(self, plaintext: str) -> str:
        token = self._fernets[self.current_id].encrypt(plaintext.encode("utf-8")).decode("ascii")
        return f"{MARK}{self.current_id}:{token}"

    def decrypt(self, stored: str) -> str:
        """The plaintext of a stored value; plaintext (no MARK) comes back as it is."""
        if not is_token(stored):
            return stored
        token = stored[_PREFIX_LENGTH:].encode("ascii", "replace")
        fernet = self._fernets.get(stored[len(MARK) : len(MARK) + KEY_ID_LENGTH])
        try:
            # The id names the key; should it not (an id collision, a hand-edited row), every key is tried.
            plain = fernet.decrypt(token) if fernet is not None else self._current.decrypt(token)
        except InvalidToken:
            try:
                plain = self._current.decrypt(token)
            except InvalidToken:
                raise UnknownKey(
                    f"a value is under key {stored_key_id(stored)}, which DATA_KEY does not hold "
                    f"(it holds {', '.join(self.ids)})"
                ) from None
        return plain.decode("utf-8")

    def is_current(self, stored: str | None) -> bool:
        return stored is None or stored.startswith(self.prefix())

    def reencrypt(self, stored: str) -> str:
        """The value under the current key (plaintext is encrypted; a value already under it is kept)."""
        return stored if stored.startswith(self.prefix()) else self.encrypt(self.decrypt(stored))

    def phone_hash(self, e164: str) -> str:
        if self.hash_key is None:
            raise RuntimeError("the phone hash key is not loaded: bot.data_keys.unlock runs at start-up")
        return hmac.new(self.hash_key, e164.encode("utf-8"), hashlib.sha256).hexdigest()


# Each engine's keys, by its dialect (the one object every type processor is handed). Weak: a disposed and
# forgotten engine takes its keys with it.
_KEYRINGS: weakref.WeakKeyDictionary[Dialect, Keyring] = weakref.WeakKeyDictionary()


def attach(engine: AsyncEngine, keyring: Keyring | None) -> None:
    """Encrypt and decrypt through `engine` with these keys (None: store plaintext, as without DATA_KEY)."""
    if keyring is None:
        _KEYRINGS.pop(engine.sync_engine.dialect, None)
    else:
        _KEYRINGS[engine.sync_engine.dialect] = keyring


def keyring_of(dialect: Dialect) -> Keyring | None:
    return _KEYRINGS.get(dialect)


class SecretText(TypeDecorator[str]):
    """TEXT that is cleaned (`bot.text.clean`, as `CleanText`), then encrypted when the engine has keys; read
    back, a token is decrypted and plaintext is returned as it is. Equality and LIKE in SQL mean nothing on it
    with a key set (each encryption differs): look up by `Client.phone_hash`, match names in Python."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if not isinstance(value, str):
            return value
        value = clean(value)
        keyring = _KEYRINGS.get(dialect)
        return value if keyring is None else keyring.encrypt(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if not isinstance(value, str) or not value.startswith(MARK):
            return value  # type: ignore[no-any-return]
        keyring = _KEYRINGS.get(dialect)
        if keyring is None:
            raise UnknownKey("a value is encrypted but DATA_KEY is not set")
        return keyring.decrypt(value)


class SecretJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored as TEXT, encrypted like `SecretText` when the engine has keys: a flow in progress keeps
    the agent's draft there (a client's name and phone before they are registered). Plain JSON text without keys,
    and read as such (a row from before a key was set, or from the JSON column this was until migration 0011)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        keyring = _KEYRINGS.get(dialect)
        return encoded if keyring is None else keyring.encrypt(encoded)

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        if isinstance(value, str) and value.startswith(MARK):
            keyring = _KEYRINGS.get(dialect)
            if keyring is None:
                raise UnknownKey("a value is encrypted but DATA_KEY is not set")
            value = keyring.decrypt(value)
        decoded = json.loads(value) if isinstance(value, str) else value
        return decoded if isinstance(decoded, dict) else {}


def phone_hash_for(connection: Connection, phone: str | None) -> str | None:
    """The keyed hash stored beside an encrypted phone number; None without keys (the phone is then plaintext
    and looked up directly) or without a phone. The hash key is read through `connection` on first need."""
    keyring = _KEYRINGS.get(connection.dialect)
    if phone is None or keyring is None:
        return None
    if keyring.hash_key is None:
        keyring.hash_key = read_hash_key(connection, keyring)
    return keyring.phone_hash(clean(phone))


HASH_KEY_SQL: Final = "SELECT hash_key FROM data_keys WHERE id = 1"


def read_hash_key(connection: Connection, keyring: Keyring) -> bytes:
    """The database's phone hash key, decrypted (bot.data_keys made it at start-up)."""
    stored = connection.exec_driver_sql(HASH_KEY_SQL).scalar_one_or_none()
    if stored is None:
        raise RuntimeError("DATA_KEY is set but the database has no data_keys row: start-up (bot.db.upgrade) makes it")
    return open_hash_key(keyring, stored)


def open_hash_key(keyring: Keyring, stored: str) -> bytes:
    return base64.urlsafe_b64decode(keyring.decrypt(stored).encode("ascii"))


def seal_hash_key(keyring: Keyring, hash_key: bytes) -> str:
    return keyring.encrypt(base64.urlsafe_b64encode(hash_key).decode("ascii"))


def encrypting(session: AsyncSession) -> bool:
    """Whether the session's engine encrypts: SQL cannot then compare or match the encrypted columns."""
    return session.get_bind().dialect in _KEYRINGS


async def phone_hash(session: AsyncSession, phone: str) -> str | None:
    """`phone_hash_for` in async code (the hash key may be read on first use)."""
    if not encrypting(session):
        return None
    connection = await session.connection()
    return await connection.run_sync(phone_hash_for, phone)
