"""Which process owns a claimed delivery, and how the others learn at once that it died.

The engine claims due rows before it sends them (bot.scheduler), and writes its owner key on each. A process
that is killed leaves its claims behind; waiting out their lease (minutes) made every such nudge minutes late.
So every process holds a lock that lives exactly as long as it does, and a row whose owner holds no lock any
more is put back to pending by the next sweep of any process — the restarted one's first sweep included:

- PostgreSQL (several processes on one database): a session-level advisory lock on the owner key, held on a
  connection of its own (the way GoodJob marks its live processes). The server drops it the moment that
  connection closes, which kill -9 does at once; `pg_locks` then no longer lists the key.
- SQLite (one process per database file): an exclusive `flock` on `<database>.lock` beside the file. A second
  process on the same file is refused with one line, so whoever holds the lock owns every row, and any row
  claimed under another key is its dead predecessor's.

Rows put back keep their attempt count only if they got past `claimed` (the send may have happened); a row that
was only claimed was never sent and does not count. The lease stays as the last backstop for a process that is
alive but stuck.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from pathlib import Path
from typing import Protocol

from sqlalchemy import text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import ColumnElement, TextClause, Update

from bot.models import Delivery
from bot.statuses import DeliveryStatus

log = logging.getLogger(__name__)

IN_HAND = (DeliveryStatus.CLAIMED, DeliveryStatus.SENDING)


class DatabaseInUse(Exception):
    """Another live process owns this SQLite database: the message is the one line an operator needs."""


class Ownership(Protocol):
    key: int

    async def start(self) -> None:
        """Take the lock that says this process is alive (before the first claim)."""

    async def stop(self) -> None:
        """Let go of it (a clean shutdown)."""

    async def abandon(self) -> None:
        """What the kernel does when the process is killed: the lock goes, nothing else is cleaned up."""

    async def rescue(self, session: AsyncSession) -> int:
        """Put back to pending every row claimed by an owner that is gone; returns how many."""


def new_key() -> int:
    """A random owner key: positive and within PostgreSQL's bigint (advisory locks take one)."""
    return secrets.randbits(62) + 1


def _put_back(status: DeliveryStatus, orphaned: ColumnElement[bool] | TextClause) -> Update:
    # One status per statement: an equality is what SQLite's planner searches the (status, due_at) index by (it
    # keeps no per-value statistics, so `status IN (two values)` looks like half the table to it).
    counted = Delivery.attempts if status == DeliveryStatus.SENDING else Delivery.attempts - 1
    return (
        update(Delivery)
        .where(Delivery.status == status, orphaned)
        .values(status=DeliveryStatus.PENDING, claimed_by=None, lease_until=None, attempts=counted)
        .execution_options(synchronize_session=False)
    )


async def _execute_put_back(session: AsyncSession, orphaned: ColumnElement[bool] | TextClause) -> int:
    count = 0
    for status in IN_HAND:
        result = await session.execute(_put_back(status, orphaned))
        count += int(getattr(result, "rowcount", 0) or 0)
    return count


class SoleOwnership:
    """The only process on its database (SQLite, or a database without a file): every row not claimed under
    this process's key is a dead predecessor's. On a file, the flock makes "only" true."""

    def __init__(self, path: Path | None = None) -> None:
        self.key = new_key()
        self.lock_path = Path(f"{path}.lock") if path is not None else None
        self._fd: int | None = None

    async def start(self) -> None:
        if self.lock_path is None or self._fd is not None:
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            database = str(self.lock_path).removesuffix(".lock")
            raise DatabaseInUse(
                f"another agentcoach process is using {database}: stop it first (or point DATABASE_URL elsewhere)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    async def stop(self) -> None:
        await self.abandon()

    async def abandon(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # closing the descriptor releases the flock, as the process's death would
            self._fd = None

    async def rescue(self, session: AsyncSession) -> int:
        return await _execute_put_back(session, Delivery.claimed_by.is_(None) | (Delivery.claimed_by != self.key))


# Keys whose advisory lock some live session of this database holds (a bigint key shows as classid:objid).
_LIVE_KEYS = """
    SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks AS l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class PostgresOwnership:
    """One of several processes on a PostgreSQL database: alive while its advisory lock is held."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.key = new_key()
        self._connection: AsyncConnection | None = None

    async def start(self) -> None:
        if self._connection is not None:
            return
        connection = await self.engine.connect()
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
        self._connection = connection

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            await connection.close()

    async def abandon(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):  # (a connection that already broke has nothing left to close)
            raw = await connection.get_raw_connection()
            raw.driver_connection.terminate()  # type: ignore[union-attr]  # the socket closes, as at kill -9
        with contextlib.suppress(Exception):
            await connection.invalidate()
        with contextlib.suppress(Exception):
            await connection.close()

    async def still_alive(self) -> None:
        """Re-take the lock under a new key if its connection broke (the server restarted): rows claimed under
        the old key are then orphans like a dead process's, and the next rescue puts them back."""
        try:
            if self._connection is not None:
                await self._connection.execute(text("SELECT 1"))
                return
        except Exception as error:  # the connection is gone; so is the lock
            log.warning("the ownership lock's connection broke (%s); taking a new one", type(error).__name__)
            await self.abandon()
        self.key = new_key()
        await self.start()

    async def rescue(self, session: AsyncSession) -> int:
        await self.still_alive()
        return await _execute_put_back(session, text(f"(claimed_by IS NULL OR claimed_by NOT IN ({_LIVE_KEYS}))"))


def ownership_for(engine: AsyncEngine) -> Ownership:
    """The right kind of ownership for the engine's database."""
    url = make_url(str(engine.url))
    if url.get_backend_name() == "postgresql":
        return PostgresOwnership(engine)
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return SoleOwnership()
    return SoleOwnership(Path(database))
