"""Charts drawn ahead of the digest wave, so that sending never waits on rendering.

A brokerage's digests mostly fall due at one instant (Sunday 20:00). Sending 100k of them takes 100k / 30 msg/s
≈ 56 min, and a chart costs about 40 ms of CPU in a worker (docs/benchmarks.md): rendered only at send time, on a
busy machine the charts would set the pace. So `render_ahead` runs every minute: it takes the digests falling due
within the next `horizon`, soonest first, counts each agent's week as it stands, and draws the charts not drawn
yet into a folder (`ChartCache`). At send time the digest counts the week again and takes the chart of exactly
those numbers if it is there; if the agent logged a call since, the chart is drawn then. A chart is deleted when
it is taken, stale ones after a week, and the folder holds at most `limit` charts (57 KiB each).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time as wall
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import Agent, Delivery
from bot.statuses import DeliveryKind, DeliveryStatus
from bot.timezones import local_datetime
from bot.week import Numbers, digest_week, numbers

HORIZON = timedelta(hours=2)
LIMIT = 50_000
STALE_SECONDS = 8 * 24 * 3600
BATCH = 200

Render = Callable[[Numbers, str], Awaitable[bytes]]


class ChartCache:
    """Charts by agent, week and exactly what they show, as PNG files in one folder."""

    def __init__(self, folder: Path, limit: int = LIMIT) -> None:
        self.folder = folder
        self.limit = limit

    @staticmethod
    def name(agent_id: int, chart: Numbers, language: str) -> str:
        """`<agent>-<Monday>-<what it shows>.png`: the days' numbers and the language are all a chart draws."""
        shown = hashlib.sha256(repr((language, chart.week.start, chart.days)).encode()).hexdigest()[:20]
        return f"{agent_id}-{chart.week.start.isoformat()}-{shown}.png"

    def take(self, agent_id: int, chart: Numbers, language: str) -> bytes | None:
        """The chart drawn ahead for exactly these numbers, removed from the folder; None if there is none."""
        path = self.folder / self.name(agent_id, chart, language)
        try:
            png = path.read_bytes()
        except FileNotFoundError:
            return None
        path.unlink(missing_ok=True)
        return png

    def put(self, agent_id: int, chart: Numbers, language: str, png: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / self.name(agent_id, chart, language)
        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(png)
        partial.replace(path)  # atomic: a sender never reads half a chart

    def weeks_drawn(self) -> set[str]:
        """'<agent>-<Monday>' of every chart in the folder; stale ones are removed on the way."""
        if not self.folder.is_dir():
            return set()
        drawn, oldest = set(), wall.time() - STALE_SECONDS
        for entry in os.scandir(self.folder):
            if not entry.name.endswith(".png"):
                continue
            if entry.stat().st_mtime < oldest:
                Path(entry.path).unlink(missing_ok=True)
                continue
            drawn.add(entry.name.rsplit("-", 1)[0])
        return drawn


async def render_ahead(
    sessions: async_sessionmaker[AsyncSession],
    render: Render,
    cache: ChartCache,
    now: datetime,
    *,
    horizon: timedelta = HORIZON,
    concurrency: int = 2,
    seconds: float = 50.0,
) -> int:
    """Draw the charts of the digests due before `now + horizon`, soonest first, until the folder is full or
    `seconds` have passed (the next run goes on). Returns how many were drawn."""
    drawn = cache.weeks_drawn()
    started, made = wall.monotonic(), 0
    after: tuple[datetime, int] | None = None
    gate = asyncio.Semaphore(concurrency)

    async def draw(agent_id: int, chart: Numbers, language: str) -> None:
        async with gate:
            cache.put(agent_id, chart, language, await render(chart, language))

    while len(drawn) < cache.limit and wall.monotonic() - started < seconds:
        async with sessions() as session:
            query = (
                select(Delivery.id, Delivery.due_at, Agent)
                .join(Agent, Agent.id == Delivery.agent_id)
                .where(
                    Delivery.kind == DeliveryKind.DIGEST,
                    Delivery.status == DeliveryStatus.PENDING,
                    Delivery.due_at <= now + horizon,
                    Agent.active,
                )
                .order_by(Delivery.due_at, Delivery.id)
                .limit(BATCH)
            )
            if after is not None:
                query = query.where(tuple_(Delivery.due_at, Delivery.id) > after)
            rows = (await session.execute(query)).all()
            charts: list[tuple[int, Numbers, str]] = []
            for delivery_id, due_at, agent in rows:
                after = (due_at, delivery_id)
                week = digest_week(local_datetime(due_at, agent.timezone).date())
                if f"{agent.id}-{week.start.isoformat()}" in drawn:
                    continue
                counted = await numbers(session, agent, week, now)
                if counted.empty:
                    continue  # an empty week's digest is one line, no chart
                charts.append((agent.id, counted, agent.language))
                drawn.add(f"{agent.id}-{week.start.isoformat()}")
                if len(drawn) >= cache.limit:
                    break
        await asyncio.gather(*(draw(*chart) for chart in charts))
        made += len(charts)
        if len(rows) < BATCH:
            break
    return made
