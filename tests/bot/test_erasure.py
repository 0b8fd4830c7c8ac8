"""Which rows erasure takes is read from the schema: a table a later version adds is covered the day it is added,
through however many foreign keys it reaches the agent (tests/handlers/test_data.py checks the rows themselves)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, ForeignKey, Integer, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.conversations import Waiting, wait_for, waiting_for
from bot.db import session_factory
from bot.erasure import _owned, erase_agent
from bot.models import Base
from tests.bot.test_week import new_agent


def test_every_table_reaching_the_agent_by_foreign_keys_is_erased_and_not_the_teams() -> None:
    owned = {table.name for table in _owned(7)}
    assert "teams" not in owned and "invites" not in owned and "broadcasts" not in owned
    assert owned >= {
        "agents", "clients", "contact_logs", "follow_ups", "deliveries", "reflections", "tip_states", "team_members",
    }  # fmt: skip


def test_a_new_table_two_keys_away_is_covered() -> None:
    later = Table(
        "follow_up_photos",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("follow_up_id", ForeignKey("follow_ups.id")),
    )
    try:
        where = str(_owned(7)[later])
    finally:
        Base.metadata.remove(later)
    assert "follow_up_photos.follow_up_id IN (SELECT follow_ups.id" in where
    assert "follow_ups.agent_id = " in where and "follow_ups.client_id IN (SELECT clients.id" in where


async def test_what_waits_under_the_agents_user_id_goes_too_when_their_chat_differs(engine: AsyncEngine) -> None:
    """A private chat's id is the user's, nearly always; where an agent's chat is another (a chat moved), a wait kept
    under either id is theirs and is erased. Another agent's wait stays."""
    now = datetime(2026, 11, 25, tzinfo=UTC)
    async with session_factory(engine)() as session, session.begin():
        moved, other = new_agent(7), new_agent(9)
        moved.chat_id = 8
        session.add_all([moved, other])
        await session.flush()
        for chat in (7, 8, 9):
            await wait_for(session, chat, Waiting("settings", "timezone"), now)
        await erase_agent(session, moved)
        assert [await waiting_for(session, chat) for chat in (7, 8)] == [None, None]
        assert await waiting_for(session, 9) == Waiting("settings", "timezone")
