"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and times stay UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents import NewAgent, get_or_register
from bot.conversations import Waiting, stop_waiting, wait_for, waiting_for
from bot.db import session_factory, upgrade
from bot.models import Agent, Base


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    await upgrade(engine)
    await upgrade(engine)


async def test_instants_come_back_aware_in_utc(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    shanghai_morning = datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    async with sessions() as session, session.begin():
        await get_or_register(session, NewAgent(1, 1, "A", "en", "Asia/Shanghai"), shanghai_morning)
    async with sessions() as session:
        agent = await session.get(Agent, 1)
    assert agent is not None
    assert agent.created_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert agent.created_at.tzinfo is not None and agent.created_at.utcoffset() == timedelta(0)
    assert agent.reflection_time == time(21, 0)


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    with pytest.raises(Exception, match="naive datetime"):
        async with sessions() as session, session.begin():
            await get_or_register(session, NewAgent(2, 2, "B", "en", "UTC"), datetime(2026, 1, 1))


async def test_conversation_state_round_trip(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    async with sessions() as session, session.begin():
        await wait_for(session, 7, Waiting("settings", "timezone", {"from": "panel"}), now)
        await wait_for(session, 7, Waiting("onboarding", "reflection"), now)  # the newest flow wins
    async with sessions() as session:
        assert await waiting_for(session, 7) == Waiting("onboarding", "reflection", {})
    async with sessions() as session, session.begin():
        assert await stop_waiting(session, 7) is True
        assert await stop_waiting(session, 7) is False


def test_head_revision_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from bot.db import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_a_database_at_head_is_recognised(engine: AsyncEngine) -> None:
    from bot.db import HEAD_REVISION, current_revision

    assert await current_revision(engine) == HEAD_REVISION
