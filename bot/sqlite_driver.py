"""aiosqlite with one thread round trip per statement, where SQLAlchemy's adapter makes four.

aiosqlite runs every sqlite3 call in the connection's own thread, and SQLAlchemy's aiosqlite adapter asks for
each step separately: create a cursor, execute, fetch the rows, close the cursor — four hand-overs to the thread
and back for a SELECT, three for a write, each a wake-up of the thread and then of the event loop. On a busy
machine every hand-over waits for the scheduler, so they were most of an update's time (issue 14: ~24 per
update). Here a cursor is a plain object made in the event loop, and `execute` runs the statement, fetches
every row and closes the sqlite3 cursor in one call on the thread; fetching and closing then cost nothing.
Commit and rollback cost one hand-over when a transaction is open, none otherwise. Everything else is
aiosqlite's own `Connection`, but for one wait:
a database that cannot be opened (a missing folder, a file that is not a database) waits for the connection's
thread to stop, as `close` does: aiosqlite 0.22.1 only asks it to stop, and when the event loop closes
first (a failed start, a test's loop) the thread dies with "Event loop is closed" on its way out.

Every row is fetched at once, as SQLAlchemy's adapter already does for every statement but server-side
("stream") cursors, which the bot does not use; a stream still works, from rows held in memory.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import aiosqlite

T = TypeVar("T")
Row = tuple[Any, ...]
Description = tuple[tuple[Any, ...], ...] | None


class OneHopCursor:
    """What SQLAlchemy's adapter needs of an aiosqlite cursor; every statement is one call on the thread."""

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: deque[Row] = deque()
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._rows.clear()

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None) -> OneHopCursor:
        connection = self._connection

        def run() -> tuple[list[Row], Description, int, int | None]:
            cursor = connection._conn.cursor()
            try:
                if parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, parameters)
                rows = cursor.fetchall() if cursor.description else []
                # rowcount after the fetch: an UPDATE … RETURNING counts its rows as they are read.
                return rows, cursor.description, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        rows, self.description, self.rowcount, self.lastrowid = await connection.call(run)
        self._rows = deque(rows)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> OneHopCursor:
        connection = self._connection

        def run() -> tuple[int, int | None]:
            cursor = connection._conn.cursor()
            try:
                cursor.executemany(sql, parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.rowcount, self.lastrowid = await connection.call(run)
        self.description, self._rows = None, deque()
        return self

    async def fetchone(self) -> Row | None:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    async def fetchall(self) -> list[Row]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose cursors cost no round trip of their own."""

    async def _connect(self) -> OneHopConnection:
        """aiosqlite's own, but a failed open waits for the thread it asked to stop (see the module docstring)."""
        try:
            await super()._connect()
        except BaseException:
            await asyncio.to_thread(self._thread.join)
            raise
        return self

    def cursor(self) -> OneHopCursor:  # type: ignore[override]  # SQLAlchemy enters it; no thread call needed
        return OneHopCursor(self)

    async def call(self, function: Callable[[], T]) -> T:
        """`function` run on the connection's thread: one round trip."""
        result: T = await self._execute(function)  # type: ignore[no-untyped-call]  # aiosqlite's own, untyped
        return result

    async def commit(self) -> None:
        if self._open():
            await super().commit()

    async def rollback(self) -> None:
        if self._open():
            await super().rollback()

    def _open(self) -> bool:
        """Whether sqlite3 holds a transaction open; when it does not (a transaction that only read: sqlite3 begins
        one at the first write; the pool's rollback after a commit), commit and rollback have nothing to do and
        are not sent to the thread. Read while no statement of this connection runs: SQLAlchemy calls them
        between statements."""
        return self._connection is not None and self._connection.in_transaction


def connect(database: str, **kwargs: Any) -> OneHopConnection:
    """`aiosqlite.connect` with `OneHopConnection` (SQLAlchemy's `async_creator_fn` hook: same arguments)."""
    kwargs.pop("iter_chunk_size", None)

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    connection = OneHopConnection(connector, iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy sets it for aiosqlite: an unclosed connection never hangs exit
    return connection


def use_one_hop(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
    """A `do_connect` listener: SQLAlchemy's aiosqlite adapter calls `async_creator_fn` instead of aiosqlite's."""
    params["async_creator_fn"] = connect
