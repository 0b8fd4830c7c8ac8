"""Charts drawn ahead of the digest wave (bot/chart_ahead.py), from the rule: the folder gives back exactly the chart
of an agent's week as it was drawn (same numbers, same language) and only once; stale charts go; `render_ahead`
draws the charts of the pending digests of active agents due within the horizon, of the week each digest is about
in the agent's own zone, soonest first, all of them however many batches that takes, never more than the folder's
limit, never the same week twice, and at most `concurrency` at a time.

The renderer here is a stand-in that records what it was asked to draw (the real chart is bot/chart.py's test).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import chart_ahead
from bot.chart_ahead import ChartCache, render_ahead
from bot.db import session_factory
from bot.i18n import EN, ZH_HANS
from bot.models import Delivery, Reflection
from bot.statuses import DeliveryKind, DeliveryStatus, ReflectionStatus
from bot.week import Day, Numbers, Week
from tests.bot.test_week import CREATED, new_agent

WEEK = Week(date(2026, 11, 23))  # Monday 23 – Sunday 29 November 2026
# Sunday 29 November 20:00 in Shanghai: the wave.
WAVE = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def shown(contacts: int) -> Numbers:
    """A week whose chart shows `contacts` calls on Tuesday."""
    days = tuple(Day(WEEK.start + timedelta(days=n), contacts=contacts if n == 1 else 0) for n in range(7))
    return Numbers(WEEK, contacts={"call": contacts}, days=days)


# ---------------------------------------------------------------------------------------------- the folder


def test_a_chart_is_given_back_once_and_only_for_exactly_what_it_shows(tmp_path: Path) -> None:
    cache = ChartCache(tmp_path / "charts")
    cache.put(7, shown(3), ZH_HANS, b"chart of three calls")
    assert cache.take(7, shown(4), ZH_HANS) is None  # the agent logged a call since: other numbers
    assert cache.take(7, shown(3), EN) is None  # another language draws other words
    assert cache.take(8, shown(3), ZH_HANS) is None  # another agent's
    next_week = Numbers(WEEK.after(), days=shown(3).days)
    assert cache.take(7, next_week, ZH_HANS) is None  # another week's
    assert cache.take(7, shown(3), ZH_HANS) == b"chart of three calls"
    assert cache.take(7, shown(3), ZH_HANS) is None  # taken: gone
    assert list((tmp_path / "charts").iterdir()) == []


def test_the_folder_is_made_when_needed_and_holds_no_half_written_file(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    cache = ChartCache(folder)
    assert cache.weeks_drawn() == set()
    assert not folder.exists()  # looking does not make it
    cache.put(7, shown(3), ZH_HANS, b"one")
    cache.put(7, shown(3), ZH_HANS, b"two")  # drawn again: the newer replaces it
    (only,) = folder.iterdir()
    assert only.suffix == ".png" and only.read_bytes() == b"two"


def test_the_weeks_drawn_are_agent_and_monday_and_stale_charts_go(tmp_path: Path) -> None:
    cache = ChartCache(tmp_path)
    cache.put(7, shown(3), ZH_HANS, b"a")
    cache.put(12, Numbers(WEEK.before()), EN, b"b")
    cache.put(31, shown(1), ZH_HANS, b"c")
    (tmp_path / "notes.txt").write_text("not a chart")
    (tmp_path / "31-2026-11-30-unfinished.part").write_bytes(b"half")
    old = next(tmp_path.glob("31-*.png"))
    nine_days_ago = time.time() - 9 * 24 * 3600
    os.utime(old, (nine_days_ago, nine_days_ago))
    seven_days_ago = time.time() - 7 * 24 * 3600
    kept = next(tmp_path.glob("12-*.png"))
    os.utime(kept, (seven_days_ago, seven_days_ago))
    assert cache.weeks_drawn() == {"7-2026-11-23", "12-2026-11-16"}
    assert not old.exists() and kept.exists()
    assert (tmp_path / "notes.txt").exists()  # not a chart: left alone


# ---------------------------------------------------------------------------------------------- render_ahead


class Renderer:
    """Records each chart asked for, and how many were being drawn at once."""

    def __init__(self) -> None:
        self.asked: list[tuple[int, str]] = []
        self.charts: list[tuple[Numbers, str, bytes]] = []
        self.running = 0
        self.most = 0

    async def __call__(self, numbers: Numbers, language: str) -> bytes:
        self.running += 1
        self.most = max(self.most, self.running)
        for _ in range(3):  # let the others start, if the gate lets them
            await asyncio.sleep(0)
        self.running -= 1
        self.asked.append((numbers.reflections_done, language))
        png = f"{numbers.reflections_done} {language}".encode()
        self.charts.append((numbers, language, png))
        return png


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    yield session_factory(engine)


async def agent_with_digest(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    due: datetime = WAVE,
    *,
    reflections: int = 1,
    language: str = ZH_HANS,
    zone: str = "Asia/Shanghai",
    active: bool = True,
    kind: str = DeliveryKind.DIGEST,
    status: str = DeliveryStatus.PENDING,
    week: Week = WEEK,
) -> int:
    """An agent with `reflections` done in `week` (Monday on) and one delivery; returns the agent's id."""
    async with sessions() as session, session.begin():
        agent = new_agent(user_id, zone)
        agent.language, agent.active = language, active
        session.add(agent)
        await session.flush()
        for n in range(reflections):
            session.add(
                Reflection(
                    agent_id=agent.id,
                    day=week.start + timedelta(days=n),
                    status=ReflectionStatus.DONE,
                    clients=1,
                    mood=3,
                    voice={},
                    created_at=CREATED,
                    updated_at=CREATED,
                )
            )
        session.add(Delivery(agent_id=agent.id, kind=kind, due_at=due, status=status, created_at=CREATED))
        return agent.id


def agents_drawn(folder: Path) -> list[str]:
    """'<agent>-<Monday>' of each chart in the folder, in name order."""
    return sorted(path.name.rsplit("-", 1)[0] for path in folder.glob("*.png"))


async def test_only_pending_digests_of_active_agents_within_the_horizon_are_drawn(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    now = WAVE - chart_ahead.HORIZON
    at_the_edge = await agent_with_digest(sessions, 1, WAVE)  # due exactly at now + horizon: drawn
    await agent_with_digest(sessions, 2, WAVE + timedelta(seconds=1))  # a second later: the next run's
    await agent_with_digest(sessions, 3, active=False)  # left the bot
    await agent_with_digest(sessions, 4, status=DeliveryStatus.SENT)  # already sent
    await agent_with_digest(sessions, 5, kind=DeliveryKind.TIP)  # not a digest
    # An empty week (no chart in its digest), due before the others: passed over, not the end of the run.
    await agent_with_digest(sessions, 6, WAVE - timedelta(minutes=2), reflections=0)
    english = await agent_with_digest(sessions, 7, WAVE - timedelta(minutes=1), reflections=2, language=EN)
    render = Renderer()
    cache = ChartCache(tmp_path)
    # A minute earlier only the English agent's digest is within the horizon.
    assert await render_ahead(sessions, render, cache, now - timedelta(minutes=1)) == 1
    # Theirs is drawn already: passed over, and the next one is drawn.
    assert await render_ahead(sessions, render, cache, now) == 1
    assert render.asked == [(2, EN), (1, ZH_HANS)]  # soonest first, each in the agent's language
    assert agents_drawn(tmp_path) == [f"{at_the_edge}-2026-11-23", f"{english}-2026-11-23"]
    assert await render_ahead(sessions, render, cache, now) == 0  # drawn already
    # The sender, counting the same numbers in the same language, finds each chart.
    for agent, (counted, language, png) in zip((english, at_the_edge), render.charts, strict=True):
        assert cache.take(agent, counted, language) == png
    assert agents_drawn(tmp_path) == []


async def test_the_week_drawn_is_the_one_the_digest_is_about_in_the_agents_zone(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # Thursday 3 December 07:00 in Shanghai is still Wednesday in UTC: a Thursday digest tells the week in
    # progress (from Monday 30 November), a Wednesday one would look back at the week before.
    thursday_morning = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)
    agent = await agent_with_digest(sessions, 1, thursday_morning, week=WEEK.after())
    assert await render_ahead(sessions, Renderer(), ChartCache(tmp_path), thursday_morning - timedelta(hours=1)) == 1
    assert agents_drawn(tmp_path) == [f"{agent}-2026-11-30"]


async def test_every_due_digest_is_drawn_however_many_batches_it_takes(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chart_ahead, "BATCH", 2)
    # Five digests, three due at one instant across the first two batches: a batch goes on after the last one
    # taken by its due time and then its delivery's order.
    dues = [WAVE - timedelta(minutes=30), WAVE, WAVE, WAVE, WAVE + timedelta(minutes=10)]
    ids = [await agent_with_digest(sessions, n + 1, due, reflections=n + 1) for n, due in enumerate(dues)]
    render = Renderer()
    made = await render_ahead(sessions, render, ChartCache(tmp_path), WAVE - timedelta(hours=1), seconds=10)
    assert made == 5
    assert [reflections for reflections, _ in render.asked] == [1, 2, 3, 4, 5]
    assert agents_drawn(tmp_path) == sorted(f"{agent}-2026-11-23" for agent in ids)


async def test_the_folder_stops_at_its_limit(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await agent_with_digest(sessions, n + 1, WAVE + timedelta(minutes=n), reflections=n + 1)
    render = Renderer()
    assert await render_ahead(sessions, render, ChartCache(tmp_path, limit=2), WAVE - timedelta(hours=1)) == 2
    assert [reflections for reflections, _ in render.asked] == [1, 2]
    # Full already (another week's chart counts too): nothing more is drawn, even across batches.
    monkeypatch.setattr(chart_ahead, "BATCH", 1)
    full = tmp_path / "full"
    ChartCache(full).put(99, Numbers(WEEK.before()), ZH_HANS, b"old")
    assert await render_ahead(sessions, render, ChartCache(full, limit=1), WAVE - timedelta(hours=1)) == 0
    assert await render_ahead(sessions, render, ChartCache(full, limit=2), WAVE - timedelta(hours=1)) == 1


async def test_at_most_two_are_drawn_at_once_and_none_without_time(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    for n in range(5):
        await agent_with_digest(sessions, n + 1)
    render = Renderer()
    assert await render_ahead(sessions, render, ChartCache(tmp_path), WAVE, seconds=0) == 0
    assert render.asked == []
    assert await render_ahead(sessions, render, ChartCache(tmp_path), WAVE) == 5
    assert render.most == 2
    one = Renderer()
    assert await render_ahead(sessions, one, ChartCache(tmp_path / "one"), WAVE, concurrency=1) == 5
    assert one.most == 1
