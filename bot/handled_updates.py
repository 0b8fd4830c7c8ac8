"""Which updates from Telegram were already applied, so that one delivered twice has one effect.

Telegram delivers a webhook update again when the answer was slow (and a poller that crashed before confirming
its offset gets the same updates again). The update's id is remembered once it was handled, in the same database
every process shares; a second delivery finds it and is skipped (runtime.gate holds the chat's lock around the
check, the handling and the remembering, so two deliveries of one update cannot both miss it). Telegram gives up
on an update within a day, so rows older than that are pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.models import HandledUpdate

# How long an update id is remembered: Telegram stops redelivering an update well within a day.
KEPT_FOR = timedelta(days=1)


async def seen(db: AsyncSession | AsyncConnection, update_id: int) -> bool:
    """Was this update already applied (by this process or another)?"""
    found = await db.execute(select(HandledUpdate.update_id).where(HandledUpdate.update_id == update_id))
    return found.first() is not None


async def remember(db: AsyncSession | AsyncConnection, update_id: int, now: datetime) -> None:
    """Mark the update as applied (the caller holds the chat's lock and commits before releasing it). An update
    without a chat has no lock, so two deliveries of it may both get here: the second changes nothing."""
    dialect = db.dialect if isinstance(db, AsyncConnection) else db.get_bind().dialect
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    await db.execute(insert(HandledUpdate).values(update_id=update_id, handled_at=now).on_conflict_do_nothing())


async def prune(db: AsyncSession | AsyncConnection, before: datetime) -> int:
    """Forget updates handled before `before`; returns how many."""
    result = await db.execute(delete(HandledUpdate).where(HandledUpdate.handled_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
