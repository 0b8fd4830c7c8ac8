"""Which updates from Telegram were already applied, so that one delivered twice has one effect.

Telegram delivers a webhook update again when the answer was slow (and a poller that crashed before confirming
its offset gets the same updates again). The update's id is remembered once it was handled, in the same database
every process shares; a second delivery finds it and is skipped (runtime.gate holds the chat's lock around the
check, the handling and the remembering, so two deliveries of one update cannot both miss it). Telegram gives up
on an update within a day, so rows older than that are pruned.

The check and the mark run for every update, so they talk to the driver directly, one round trip each, on a
connection the gate keeps for them: through SQLAlchemy each cost a pool check-out (a ping on PostgreSQL, a
reset), and on aiosqlite four trips to its thread instead of one. The mark is not flushed to disk before it
returns (`synchronous_commit = off`, SQLite's `synchronous = NORMAL` on the gate's connection): a killed process
loses nothing by it, and only a crash of the machine itself can forget the last marks, whose updates a
redelivery would then apply again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import HandledUpdate

# How long an update id is remembered: Telegram stops redelivering an update well within a day.
KEPT_FOR = timedelta(days=1)

_SEEN = "SELECT 1 FROM handled_updates WHERE update_id = {}"
_REMEMBER = "INSERT INTO handled_updates (update_id, handled_at) VALUES ({}, {}) ON CONFLICT DO NOTHING"


class Ledger:
    """`seen` and `remember` at the driver (asyncpg or aiosqlite) of a connection the caller keeps for them.

    On PostgreSQL each is one simple query, which may carry the caller's own statement in the same round trip
    (`first`: before the check takes its snapshot; `then`: after the mark is committed)."""

    def __init__(self, dialect: Dialect, driver: Any) -> None:
        self.driver = driver
        self.postgres = dialect.name == "postgresql"
        self._sqlite_instant = (
            None
            if self.postgres
            else HandledUpdate.__table__.c.handled_at.type.dialect_impl(dialect).bind_processor(dialect)
        )

    async def prepare(self) -> None:
        """Once per connection (it is never handed back to the pool with these settings)."""
        if not self.postgres:
            self.driver.isolation_level = None  # each statement commits itself: the mark is one trip, not two
            await self.driver.execute_fetchall("PRAGMA synchronous = NORMAL")

    async def seen(self, update_id: int, *, first: str | None = None) -> bool:
        """Was this update already applied (by this process or another)?"""
        query = _SEEN.format(int(update_id))
        if self.postgres:
            # Each statement of a simple query takes its own snapshot (read committed), so the check sees every
            # mark committed before `first` returned. Its status line ("SELECT 1") says whether a row came back.
            status: str = await self.driver.execute(f"{first}; {query}" if first else query)
            return status != "SELECT 0"
        assert first is None
        return bool(await self.driver.execute_fetchall(query))

    async def remember(self, update_id: int, now: datetime, *, then: str | None = None) -> None:
        """Mark the update as applied, committed when this returns (before `then` runs, on PostgreSQL). An update
        without a chat has no lock, so two deliveries of it may both get here: the second changes nothing."""
        if self.postgres:
            mark = _REMEMBER.format(int(update_id), f"'{now.astimezone(UTC).isoformat()}'::timestamptz")
            commit = f"BEGIN; SET LOCAL synchronous_commit = off; {mark}; COMMIT"
            await self.driver.execute(f"{commit}; {then}" if then else commit)
            return
        assert then is None and self._sqlite_instant is not None
        await self.driver.execute_fetchall(_REMEMBER.format("?", "?"), (update_id, self._sqlite_instant(now)))


async def prune(session: AsyncSession, before: datetime) -> int:
    """Forget updates handled before `before`; returns how many."""
    result = await session.execute(delete(HandledUpdate).where(HandledUpdate.handled_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
