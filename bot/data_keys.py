"""The data key against the database: the start-up check, `agentcoach data status` and `data rotate-key`.

At start-up (`bot.db.upgrade`) `unlock` makes sure DATA_KEY and the database agree, and says so in one line when
they do not: a key that decrypts nothing of this database is refused, a database with encrypted data and no key
is refused, and no key on a database that never had one is allowed, logged once as plaintext storage.

Rotation re-encrypts every encrypted column under DATA_KEY's first key, a batch of rows per transaction, picking
only the rows not yet under it (a SQL LIKE on the key id every stored value starts with): a re-run after a crash
does the rest, and rows already rotated cost nothing. Plaintext rows (a database that had no key until now) are
encrypted the same way, and their phone hash filled in. The phone hash key never changes, so phone hashes stay.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Table,
    bindparam,
    func,
    literal,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import Text

from bot.crypto import Keyring, SecretJSON, SecretText, UnknownKey, keyring_of, open_hash_key, seal_hash_key
from bot.db import DatabaseUnusable, dialect_insert
from bot.models import Base, DataKey

log = logging.getLogger(__name__)

ROW_ID = 1
BATCH_SIZE = 500
_announced = False


class DataKeyError(DatabaseUnusable):
    """DATA_KEY cannot open this database (wrong, missing, or missing a key still in use); one line."""


def encrypted_tables() -> list[tuple[Table, list[Column[str]]]]:
    """Every table with encrypted columns, and those columns (found from the models: a new one is covered)."""
    found = []
    for table in Base.metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, SecretText | SecretJSON)]
        if columns:
            found.append((table, columns))
    return found


async def unlock(engine: AsyncEngine) -> None:
    """Check the engine's keys against the database; make the data_keys row when a key is first set."""
    keyring = keyring_of(engine.sync_engine.dialect)
    async with engine.begin() as connection:
        row = await _row(connection)
        if keyring is None:
            if row is not None:
                raise DataKeyError(
                    f"this database holds encrypted data (key {row.key_id}) but DATA_KEY is not set: set DATA_KEY to "
                    "the key(s) it was encrypted with"
                )
            return
        if row is None:
            await _create_row(connection, keyring)
            row = await _row(connection)
            assert row is not None
        try:
            keyring.hash_key = open_hash_key(keyring, row.hash_key)
        except (UnknownKey, ValueError):
            raise DataKeyError(
                f"DATA_KEY does not open this database: its data is under key {row.key_id}, and DATA_KEY holds "
                f"{', '.join(keyring.ids)}. Set DATA_KEY to the key(s) it was encrypted with (a new key first, the "
                "old one after it, until `agentcoach data rotate-key` has run)"
            ) from None
    if row.all_under != keyring.current_id:
        log.warning(
            "some rows may be unencrypted or under an older key than DATA_KEY's first (%s): "
            "run `agentcoach data rotate-key`",
            keyring.current_id,
        )


def announce(keyring: Keyring | None) -> None:
    """Say once, when the bot starts serving, whether what agents write is encrypted. INFO, not WARNING: no key is
    the default (one agent trying the bot), and a warning at every start would be noise. Said after the checks
    that may refuse to start, so a refusal stays one line."""
    global _announced
    if _announced:
        return
    _announced = True
    if keyring is None:
        log.info(
            "DATA_KEY is not set: client names, phones, notes and reflections are stored unencrypted "
            "(see docs/encryption.md)"
        )
    else:
        log.info("encryption at rest is on (key %s)", keyring.current_id)


async def _row(connection: AsyncConnection) -> DataKey | None:
    result = await connection.execute(select(DataKey.__table__).where(DataKey.id == ROW_ID))
    row = result.one_or_none()
    return None if row is None else DataKey(**row._mapping)


async def _create_row(connection: AsyncConnection, keyring: Keyring) -> None:
    """The row under the current key, with a fresh hash key. Two processes starting together: the first wins."""
    now = datetime.now(UTC)  # an operator's record of when, not a time the bot acts on: no injected clock here
    empty = True
    for table, _ in encrypted_tables():
        if (await connection.execute(select(literal(1)).select_from(table).limit(1))).first() is not None:
            empty = False
            break
    statement = (
        dialect_insert(connection.dialect.name)(DataKey)
        .values(
            id=ROW_ID,
            key_id=keyring.current_id,
            hash_key=seal_hash_key(keyring, os.urandom(32)),
            all_under=keyring.current_id if empty else None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    await connection.execute(statement)
    if not empty:
        log.warning("DATA_KEY is newly set: existing rows stay unencrypted until `agentcoach data rotate-key` runs")


@dataclass
class Status:
    """Where encryption stands: the keys, and per table the rows with a value not under the current key."""

    keyring: Keyring | None
    row_key_id: str | None
    behind: dict[str, int] = field(default_factory=dict)

    @property
    def total_behind(self) -> int:
        return sum(self.behind.values())

    def lines(self) -> list[str]:
        if self.keyring is None:
            if self.row_key_id is None:
                return ["encryption at rest: off (DATA_KEY is not set; client details and reflections are plaintext)"]
            return [f"encryption at rest: DATA_KEY is not set, but this database is encrypted (key {self.row_key_id})"]
        others = f" (also decrypting with {', '.join(self.keyring.ids[1:])})" if len(self.keyring.ids) > 1 else ""
        lines = [f"encryption at rest: on, current key {self.keyring.current_id}{others}"]
        for name, count in self.behind.items():
            lines.append(f"  {name}: {count} row(s) not under the current key")
        lines.append(
            "every row is under the current key"
            if self.total_behind == 0
            else f"{self.total_behind} row(s) not under the current key: run `agentcoach data rotate-key`"
        )
        return lines


def _behind(table: Table, columns: list[Column[str]], keyring: Keyring) -> ColumnElement[bool]:
    """Rows of `table` with a value that is plaintext or under another key (and clients with no phone hash). The
    values are compared as stored (TEXT), not through the encrypting type."""
    prefix = keyring.prefix() + "%"
    stored = [type_coerce(column, Text) for column in columns]
    conditions = [value.isnot(None) & ~value.like(prefix) for value in stored]
    if table.name == "clients":
        conditions.append(table.c.phone.isnot(None) & table.c.phone_hash.is_(None))
    return or_(*conditions)


async def status(engine: AsyncEngine) -> Status:
    """`agentcoach data status`: read-only; counts are plain SQL, no value is decrypted."""
    keyring = keyring_of(engine.sync_engine.dialect)
    async with engine.connect() as connection:
        row = await _row(connection)
        result = Status(keyring, row.key_id if row else None)
        if keyring is None:
            return result
        for table, columns in encrypted_tables():
            query = select(func.count()).select_from(table).where(_behind(table, columns, keyring))
            result.behind[table.name] = int((await connection.execute(query)).scalar_one())
    return result


Progress = Callable[[str, int, int], None]


async def rotate(engine: AsyncEngine, *, batch_size: int = BATCH_SIZE, progress: Progress | None = None) -> int:
    """Re-encrypt every row not under DATA_KEY's first key, `batch_size` rows per committed transaction; returns
    how many rows changed. Stops with DataKeyError when a value is under a key DATA_KEY does not hold."""
    keyring = keyring_of(engine.sync_engine.dialect)
    if keyring is None:
        raise DataKeyError("DATA_KEY is not set: set it (a new key first, any old one after it) to rotate")
    await unlock(engine)
    changed = 0
    for table, columns in encrypted_tables():
        done = 0
        while True:
            async with engine.begin() as connection:
                count = await connection.run_sync(_rotate_batch, table, columns, keyring, batch_size)
            done += count
            changed += count
            if progress is not None:
                progress(table.name, done, count)
            if count < batch_size:
                break
    if (await status(engine)).total_behind:
        return changed  # written meanwhile under an older key by a process not yet restarted: run again
    async with engine.begin() as connection:
        row = await _row(connection)
        assert row is not None
        await connection.execute(
            update(DataKey)
            .where(DataKey.id == ROW_ID)
            .values(
                key_id=keyring.current_id,
                hash_key=seal_hash_key(keyring, open_hash_key(keyring, row.hash_key)),
                all_under=keyring.current_id,
                updated_at=datetime.now(UTC),
            )
        )
    return changed


def _rotate_batch(connection: Connection, table: Table, columns: list[Column[str]], keyring: Keyring, size: int) -> int:
    """One batch: the first `size` rows not under the current key, re-encrypted (locked on PostgreSQL, so a
    write by the running bot waits rather than being overwritten; SQLite's write lock does the same)."""
    raw = [type_coerce(column, Text).label(column.name) for column in columns]
    [key] = table.primary_key.columns  # every table with encrypted columns has a one-column key
    picked = select(key.label("row_key"), *raw).where(_behind(table, columns, keyring)).order_by(key).limit(size)
    if connection.dialect.name == "postgresql":
        picked = picked.with_for_update()
    rows = connection.execute(picked).all()
    if not rows:
        return 0
    names = [column.name for column in columns]
    updates = []
    for row in rows:
        found = row._mapping
        try:
            values = {name: None if found[name] is None else keyring.reencrypt(found[name]) for name in names}
        except UnknownKey as error:
            raise DataKeyError(
                f"{table.name} row {row.row_key}: {error}; put that key back in DATA_KEY (after the first)"
            ) from None
        if table.name == "clients":
            phone = found["phone"]
            values["phone_hash"] = None if phone is None else keyring.phone_hash(keyring.decrypt(phone))
        updates.append({"row_key": row.row_key, **{f"new_{name}": value for name, value in values.items()}})
    targets = [*names, "phone_hash"] if table.name == "clients" else names
    statement = (
        update(table)
        .where(key == bindparam("row_key"))
        .values({name: bindparam(f"new_{name}", type_=Text) for name in targets})
    )
    connection.execute(statement, updates)
    return len(rows)
