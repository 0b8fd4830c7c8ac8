"""The operator's announcement (`agentcoach broadcast`, bot/broadcasts.py) as the engine sends it to one agent.

The text goes out as the operator wrote it, whatever the agent's language: it was checked as Telegram HTML within
one message's limit before anything was queued (runtime/broadcast.py), and it has no buttons.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import broadcasts
from bot.models import Agent, Broadcast, Delivery
from bot.scheduler import Outgoing

BROADCAST = broadcasts.KIND


async def render_broadcast(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """The engine's renderer for kind "broadcast": the announcement's text; None if its row is gone."""
    broadcast = await session.get(Broadcast, delivery.subject_id or 0)
    return Outgoing(broadcast.text) if broadcast is not None else None
