"""Rows written without the ORM's unit of work: bulk inserts at the driver (COPY on PostgreSQL, one executemany
on SQLite), and the one new row an answer adds (`new_row`, `loaded`).

Imports and hand-overs write thousands of rows at once. Through SQLAlchemy's executemany each row costs
~10 µs of Python here, and `INSERT … RETURNING` cannot be batched on SQLite at all (no sentinel), so
`bench/scheduling.py` measured 150 µs per follow-up. Handing whole lists to the driver removes most of that.
Values still go through each column's own type (UTC instants, booleans), exactly as the ORM would convert them,
so bulk rows are indistinguishable from rows the ORM wrote: encrypted columns are encrypted (bot.crypto, a fresh
token per value, never shared between equal values) and a client's phone hash is added as the ORM's event adds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Table, bindparam, insert, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from bot.crypto import SecretText, phone_hash_for

Row = Sequence[Any]


def new_row(table: Table, columns: Sequence[str]) -> Insert:
    """An INSERT of `columns` as named parameters (each takes its column's type: SQLAlchemy gives an untyped
    parameter in `values` the column's); the table's other columns get the model's defaults, as an object added
    without them would."""
    return insert(table).values({name: bindparam(name) for name in columns})


def loaded(model: type[Any], statement: Insert) -> ExecutableReturnsRows:
    """`statement` returning its whole row, loaded as a `model` object in the session: what `session.add` and a
    flush would write and hold, without the unit of work's CPU (a ✅ on a showing adds two such rows)."""
    table: Table = model.__table__
    return select(model).from_statement(statement.returning(*table.c))


async def insert_rows(session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Insert `rows` (values in `columns` order) inside the session's transaction."""
    if not rows:
        return
    connection = await session.connection()
    columns, rows = await _with_phone_hash(connection, table, columns, rows)
    converted = _converted(connection.dialect, table, columns, rows)
    if connection.dialect.name == "postgresql":
        await _copy(connection, table, columns, converted)
    else:
        await connection.exec_driver_sql(_insert_sql(table, columns), converted)


async def insert_rows_with_ids(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> list[int]:
    """Insert `rows` and return their new ids in order: the ids are taken first, so no RETURNING is needed."""
    if not rows:
        return []
    connection = await session.connection()
    columns, rows = await _with_phone_hash(connection, table, columns, rows)
    with_id = ["id", *columns]
    if connection.dialect.name == "postgresql":
        sequence = text(f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) FROM generate_series(1, :n)")
        ids = sorted(int(i) for i in (await connection.execute(sequence, {"n": len(rows)})).scalars())
        numbered = [(i, *row) for i, row in zip(ids, rows, strict=True)]
        await _copy(connection, table, with_id, _converted(connection.dialect, table, with_id, numbered))
        return ids
    # SQLite: the first INSERT takes the database's write lock until commit, and a new rowid is max(rowid) + 1,
    # so the ids after the first one are ours.
    head, *tail = _converted(connection.dialect, table, columns, rows)
    first = int((await connection.exec_driver_sql(_insert_sql(table, columns) + " RETURNING id", head)).scalar_one())
    ids = list(range(first, first + len(rows)))
    if tail:
        await connection.exec_driver_sql(
            _insert_sql(table, with_id), [(i, *row) for i, row in zip(ids[1:], tail, strict=True)]
        )
    return ids


async def _with_phone_hash(
    connection: AsyncConnection, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> tuple[Sequence[str], Sequence[Row]]:
    """Clients' rows with their phone hash (None without a data key), as `bot.models` adds it on the ORM path."""
    if "phone_hash" not in table.c or "phone" not in columns or "phone_hash" in columns:
        return columns, rows
    phone = list(columns).index("phone")

    def hashed(sync: Connection) -> list[Row]:
        return [(*row, phone_hash_for(sync, row[phone])) for row in rows]

    return [*columns, "phone_hash"], await connection.run_sync(hashed)


def _insert_sql(table: Table, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _converted(dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[Row]) -> list[tuple[Any, ...]]:
    """Each column's values through its type's bind processor, column by column.

    Each distinct value is converted once: a batch's rows share their `now` and often their due times, and a
    datetime's conversion (to UTC, then to SQLite's text) costs ~5 µs, most of the time a bulk write takes.
    """
    processors = [_processor(dialect, table, column) for column in columns]
    if not any(processors):
        return [tuple(row) for row in rows]
    converted: list[list[Any]] = []
    for index, convert in enumerate(processors):
        values = [row[index] for row in rows]
        if convert is not None and isinstance(table.c[columns[index]].type, SecretText):
            values = [None if value is None else convert(value) for value in values]
        elif convert is not None:
            once = _once_per_value(convert)
            values = [None if value is None else once(value) for value in values]
        converted.append(values)
    return list(zip(*converted, strict=True))


def _once_per_value(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Any, Any] = {}

    def once(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = convert(value)
            return result
        except TypeError:  # unhashable (a JSON column's dict): convert every time
            return convert(value)

    return once


def _processor(dialect: Dialect, table: Table, column: str) -> Callable[[Any], Any] | None:
    return table.c[column].type.dialect_impl(dialect).bind_processor(dialect)


async def _copy(connection: AsyncConnection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    # asyncpg's connection, inside the transaction the session already opened (the session ran a query first).
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    if not raw.is_in_transaction():
        await connection.execute(text("SELECT 1"))  # SQLAlchemy opens its transaction on the first statement
    await raw.copy_records_to_table(table.name, records=rows, columns=list(columns))
