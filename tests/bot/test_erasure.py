"""Which rows erasure takes is read from the schema: a table a later version adds is covered the day it is added,
through however many foreign keys it reaches the agent (tests/handlers/test_data.py checks the rows themselves)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, Table

from bot.erasure import _owned
from bot.models import Base


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
