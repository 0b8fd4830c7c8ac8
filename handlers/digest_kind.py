"""The weekly digest as a kind of the scheduling engine: how a waiting digest becomes a message.

PLACEHOLDER — the main engineer replaces `render_digest` with the real one (handlers/digest.py renders the
week's numbers, the chart as `Outgoing.photo` with a caption of at most 1024 characters, and the buttons). The
engine side is complete: the kind, its schedule (bot.recurring.next_digest), one waiting per agent, and its
place after every other kind in the claim (bot.scheduler).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Agent, Delivery
from bot.scheduler import Outgoing


async def render_digest(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    """PLACEHOLDER: replace with handlers.digest's renderer. None would mean "nothing to send" (skipped)."""
    return Outgoing(text="digest")  # PLACEHOLDER, not user-facing text: replaced before the digest ships
