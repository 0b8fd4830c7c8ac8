"""A broadcast is queued once per active agent, however often the command runs: the same text is the same
broadcast, a re-run adds nothing, two runs at once add one copy each, and agents still onboarding or who blocked
the bot get none."""

from __future__ import annotations

import asyncio
from datetime import time

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import broadcasts
from bot.db import session_factory
from bot.models import Agent, Delivery
from tests.conftest import START

TEXT = "<b>通知</b>：本周六上午九点门店例会。"


def an_agent(n: int, *, onboarded: bool = True, active: bool = True, language: str = "zh-Hans") -> Agent:
    return Agent(
        telegram_user_id=n,
        chat_id=n,
        display_name=f"经纪人{n}",
        language=language,
        timezone="Asia/Shanghai",
        reflection_time=time(21, 0),
        work_days="12345",
        digest_weekday=7,
        digest_time=time(20, 0),
        tip_time=None,
        setup_step=None if onboarded else "timezone",
        active=active,
        created_at=START,
        updated_at=START,
    )


async def add_agents(sessions: async_sessionmaker[AsyncSession], *agents: Agent) -> list[int]:
    async with sessions() as session, session.begin():
        session.add_all(agents)
        await session.flush()
        return [agent.id for agent in agents]


async def copies(sessions: async_sessionmaker[AsyncSession], broadcast_id: int) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = await session.execute(
            select(Delivery.agent_id, Delivery.status)
            .where(Delivery.kind == broadcasts.KIND, Delivery.subject_id == broadcast_id)
            .order_by(Delivery.agent_id)
        )
        return [(agent_id, status) for agent_id, status in rows.all()]


async def new_broadcast(sessions: async_sessionmaker[AsyncSession], text: str = TEXT) -> tuple[int, bool]:
    async with sessions() as session, session.begin():
        broadcast, made = await broadcasts.find_or_create(session, text, START)
        return broadcast.id, made


async def test_each_active_agent_gets_one_copy_however_often_it_is_queued(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    active = await add_agents(sessions, *(an_agent(n) for n in range(1, 6)))
    first, made = await new_broadcast(sessions)
    assert made
    assert await broadcasts.enqueue(sessions, first, START) == 5
    again, made_again = await new_broadcast(sessions)  # the command run again with the same file
    assert (again, made_again) == (first, False)
    assert await broadcasts.enqueue(sessions, again, START) == 0
    assert await copies(sessions, first) == [(agent_id, "pending") for agent_id in active]
    async with sessions() as session:
        found = await broadcasts.progress(session, first)
    assert (found.remaining, found.sent, found.total, found.done) == (5, 0, 5, False)


async def test_an_agent_who_joins_later_is_added_by_a_re_run_and_a_new_text_is_a_new_broadcast(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    await add_agents(sessions, an_agent(1), an_agent(2))
    first, _ = await new_broadcast(sessions)
    assert await broadcasts.enqueue(sessions, first, START) == 2
    [late] = await add_agents(sessions, an_agent(3))
    assert await broadcasts.enqueue(sessions, first, START) == 1
    assert [agent_id for agent_id, _ in await copies(sessions, first)] == [1, 2, late]
    other, made = await new_broadcast(sessions, TEXT + " 请准时。")
    assert made and other != first
    assert await broadcasts.enqueue(sessions, other, START) == 3


async def test_agents_still_onboarding_or_who_blocked_the_bot_get_none(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    ids = await add_agents(
        sessions, an_agent(1), an_agent(2, onboarded=False), an_agent(3, active=False), an_agent(4, language="en")
    )
    async with sessions() as session:
        assert await broadcasts.active_agents(session) == 2
    broadcast, _ = await new_broadcast(sessions)
    assert await broadcasts.enqueue(sessions, broadcast, START) == 2
    assert [agent_id for agent_id, _ in await copies(sessions, broadcast)] == [ids[0], ids[3]]


async def test_two_runs_at_once_queue_one_copy_each(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    await add_agents(sessions, *(an_agent(n) for n in range(1, 41)))
    made = await asyncio.gather(new_broadcast(sessions), new_broadcast(sessions))
    assert made[0][0] == made[1][0] and sorted(flag for _, flag in made) == [False, True]
    added = await asyncio.gather(*(broadcasts.enqueue(sessions, made[0][0], START) for _ in range(2)))
    assert sum(added) == 40
    assert len(await copies(sessions, made[0][0])) == 40


async def test_queued_in_batches_across_gaps_in_the_ids(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = session_factory(engine)
    ids = await add_agents(sessions, *(an_agent(n) for n in range(1, 8)))
    async with sessions() as session, session.begin():  # agents 2 and 5 left: their ids are gaps
        for gone in (ids[1], ids[4]):
            await session.delete(await session.get(Agent, gone))
    monkeypatch.setattr(broadcasts, "BATCH", 2)  # several batches, some with a gap in them
    broadcast, _ = await new_broadcast(sessions)
    assert await broadcasts.enqueue(sessions, broadcast, START) == 5
    assert [agent_id for agent_id, _ in await copies(sessions, broadcast)] == [ids[i] for i in (0, 2, 3, 5, 6)]
