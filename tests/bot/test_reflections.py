"""The reflection domain without Telegram: parsing answers, the order of questions, and the streak rules
(hypothesis: a day off never breaks or counts, a missed work day always breaks)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import session_factory
from bot.models import Agent, Reflection
from bot.reflections import DONE, QUESTIONS, next_question, parse_clients, parse_mood, streak

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "count"),
    [("3", 3), ("0", 0), ("12", 12), ("6+", 6), ("3个", 3), ("三个", 3), ("两位", 2), ("十", 10), (" 5 ", 5)],
)
def test_client_counts_are_read(text: str, count: int) -> None:
    assert parse_clients(text) == count


@pytest.mark.parametrize("text", ["很多", "", "-1", "1000", "3.5", "three", "一百"])
def test_what_is_not_a_count_is_refused(text: str) -> None:
    assert parse_clients(text) is None


def test_moods_are_one_to_five() -> None:
    assert [parse_mood(str(n)) for n in range(7)] == [None, 1, 2, 3, 4, 5, None]
    assert parse_mood("好") is None


def test_questions_come_in_order_and_end() -> None:
    order, step = [], next_question(None)
    while step is not None:
        order.append(step)
        step = next_question(step)
    assert tuple(order) == QUESTIONS


def expected_streak(done: set[date], work_days: str, today: date) -> int:
    """The rule written plainly: walk back from today; a day off is passed over; a missed work day ends it."""
    count, day = 0, today
    if today not in done:
        day -= timedelta(days=1)
    for _ in range(400):
        if day in done:
            count += 1
        elif str(day.isoweekday()) in work_days:
            break
        day -= timedelta(days=1)
    return count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.sets(st.integers(min_value=0, max_value=40), max_size=30),
    work_days=st.sampled_from(["12345", "123456", "1234567", "135", "7"]),
)
async def test_streak_follows_the_rule(engine: AsyncEngine, offsets: set[int], work_days: str) -> None:
    today = date(2026, 11, 25)
    done = {today - timedelta(days=offset) for offset in offsets}
    sessions = session_factory(engine)
    async with sessions() as session:
        agent = Agent(
            telegram_user_id=1,
            chat_id=1,
            display_name="A",
            language="zh-Hans",
            timezone="Asia/Shanghai",
            reflection_time=time(21, 0),
            work_days=work_days,
            digest_weekday=7,
            digest_time=time(20, 0),
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(agent)
        await session.flush()
        for day in done:
            session.add(Reflection(agent_id=agent.id, day=day, status=DONE, voice={}, created_at=NOW, updated_at=NOW))
        await session.flush()
        assert await streak(session, agent, today) == expected_streak(done, work_days, today)
        await session.rollback()
