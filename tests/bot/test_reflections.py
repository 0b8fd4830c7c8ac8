"""The reflection domain without Telegram: parsing answers, the order of questions, each agent's own day, and
the streak, checked against its rule written out plainly (hand-picked days and hypothesis, two agents at once)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import session_factory
from bot.models import Agent, Reflection
from bot.reflections import (
    DONE,
    OPEN,
    QUESTIONS,
    SKIPPED,
    next_question,
    parse_clients,
    parse_mood,
    reflection_on,
    streak,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("3", 3),
        ("0", 0),
        ("12", 12),
        ("6+", 6),
        ("3个", 3),
        ("三个", 3),
        ("两位", 2),
        ("十", 10),
        (" 5 ", 5),
        ("999", 999),
    ],
)
def test_client_counts_are_read(text: str, count: int) -> None:
    assert parse_clients(text) == count


@pytest.mark.parametrize("text", ["很多", "", "-1", "1000", "一千", "3.5", "三四个", "3-4", "three or four", "²"])
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


# ---------------------------------------------------------------------------------------------- the streak
# The rule, as the agent is told it: the number of consecutive work days with a finished reflection, counting
# back from today. A day off neither counts nor breaks it; today, while still unanswered, does not break it yet.

WED = date(2026, 11, 25)
MON_TO_SAT = "123456"


def streak_by_the_rule(done: set[date], work_days: str, today: date) -> int:
    """The rule read aloud: look at each work day from today backwards and stop at the first one not done."""
    work_days_back = (
        day for day in (today - timedelta(days=back) for back in range(0, 800)) if str(day.isoweekday()) in work_days
    )
    count = 0
    for day in work_days_back:
        if day in done:
            count += 1
        elif day != today:  # a missed work day ends it; today may still be answered tonight
            break
    return count


def new_agent(user_id: int, work_days: str) -> Agent:
    return Agent(
        telegram_user_id=user_id,
        chat_id=user_id,
        display_name=f"A{user_id}",
        language="zh-Hans",
        timezone="Asia/Shanghai",
        reflection_time=time(21, 0),
        work_days=work_days,
        digest_weekday=7,
        digest_time=time(20, 0),
        created_at=NOW,
        updated_at=NOW,
    )


async def streaks(engine: AsyncEngine, today: date, agents: list[tuple[str, dict[date, str]]]) -> list[int]:
    """Each agent's streak on `today`, given their work days and the status of each day's reflection."""
    async with session_factory(engine)() as session:
        stored = []
        for number, (work_days, days) in enumerate(agents, start=1):
            agent = new_agent(number, work_days)
            session.add(agent)
            await session.flush()
            for day, status in days.items():
                session.add(
                    Reflection(agent_id=agent.id, day=day, status=status, voice={}, created_at=NOW, updated_at=NOW)
                )
            stored.append(agent)
        await session.flush()
        found = [await streak(session, agent, today) for agent in stored]
        await session.rollback()
        return found


def days_before(today: date, *offsets: int) -> dict[date, str]:
    return {today - timedelta(days=offset): DONE for offset in offsets}


@pytest.mark.parametrize(
    ("today", "work_days", "days", "expected"),
    [
        # A Sunday night after a full week Monday to Saturday: Sunday is a day off, so six.
        (date(2026, 11, 29), MON_TO_SAT, days_before(date(2026, 11, 29), 1, 2, 3, 4, 5, 6), 6),
        # Reflecting on the day off too does not make it seven: only work days count.
        (date(2026, 11, 29), MON_TO_SAT, days_before(date(2026, 11, 29), 0, 1, 2, 3, 4, 5, 6), 6),
        # A month's last day, Monday 30 November: done today, Saturday and Friday; Thursday missed.
        (date(2026, 11, 30), MON_TO_SAT, days_before(date(2026, 11, 30), 0, 2, 3), 3),
        # Tuesday 1 December, not answered yet: Monday's run still stands.
        (date(2026, 12, 1), MON_TO_SAT, days_before(date(2026, 12, 1), 1, 3, 4), 3),
        # Wednesday: Tuesday was missed, so the run is over whether or not today is done.
        (date(2026, 12, 2), MON_TO_SAT, days_before(date(2026, 12, 2), 2, 4, 5), 0),
        (date(2026, 12, 2), MON_TO_SAT, days_before(date(2026, 12, 2), 0, 2, 4, 5), 1),
        # Work on Monday, Wednesday and Friday only; the new year in between.
        (date(2027, 1, 4), "135", days_before(date(2027, 1, 4), 0, 3, 5, 7), 4),
        # A reflection begun or skipped is not a finished one.
        (WED, MON_TO_SAT, {WED: DONE, WED - timedelta(days=1): OPEN, WED - timedelta(days=2): DONE}, 1),
        (WED, MON_TO_SAT, {WED: SKIPPED, WED - timedelta(days=1): DONE}, 1),
        (WED, MON_TO_SAT, {}, 0),
        # An agent with no work days has no streak to keep.
        (WED, "", days_before(WED, 0, 1, 2), 0),
    ],
)
async def test_streak_cases(
    engine: AsyncEngine, today: date, work_days: str, days: dict[date, str], expected: int
) -> None:
    assert await streaks(engine, today, [(work_days, days)]) == [expected]


statuses = st.sampled_from([DONE, DONE, DONE, OPEN, SKIPPED])
history = st.dictionaries(st.integers(min_value=0, max_value=40), statuses, max_size=35)
work_day_sets = st.sets(st.sampled_from("1234567"), min_size=1).map(lambda days: "".join(sorted(days)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    today=st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    mine=st.tuples(work_day_sets, history),
    theirs=st.tuples(work_day_sets, history),
)
async def test_each_agents_streak_follows_the_rule(
    engine: AsyncEngine,
    today: date,
    mine: tuple[str, dict[int, str]],
    theirs: tuple[str, dict[int, str]],
) -> None:
    """Two agents reflecting over the same days: each streak counts only that agent's finished work days."""
    agents = [
        (work_days, {today - timedelta(days=back): status for back, status in days.items()})
        for work_days, days in (mine, theirs)
    ]
    expected = [
        streak_by_the_rule({day for day, status in days.items() if status == DONE}, work_days, today)
        for work_days, days in agents
    ]
    assert await streaks(engine, today, agents) == expected


async def test_reflection_on_a_day_is_the_agents_own(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session:
        first, second = new_agent(1, MON_TO_SAT), new_agent(2, MON_TO_SAT)
        session.add_all([first, second])
        await session.flush()
        assert await reflection_on(session, first.id, WED) is None
        session.add(Reflection(agent_id=first.id, day=WED, status=DONE, voice={}, created_at=NOW, updated_at=NOW))
        await session.flush()
        assert await reflection_on(session, second.id, WED) is None
        session.add(Reflection(agent_id=second.id, day=WED, status=OPEN, voice={}, created_at=NOW, updated_at=NOW))
        await session.flush()
        mine, theirs = await reflection_on(session, first.id, WED), await reflection_on(session, second.id, WED)
        assert (mine and mine.agent_id, mine and mine.status) == (first.id, DONE)
        assert (theirs and theirs.agent_id, theirs and theirs.status) == (second.id, OPEN)
        await session.rollback()
