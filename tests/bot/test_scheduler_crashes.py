"""Property: whatever the schedule, wherever the process dies and however often it restarts, every due
delivery reaches the agent, and exactly once — except when the process died in the one window no sender
can close (after Telegram accepted the message, before our commit), where it is sent again, never lost.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import ManualClock
from bot.db import create_engine, session_factory
from bot.models import Agent, Base, Delivery
from bot.scheduler import Engine, EngineSettings, Kind, Outgoing, schedule
from tests.conftest import START

KIND = "test"
LEASE = timedelta(minutes=5)


class Crash(BaseException):
    """The process is killed: nothing after this point runs."""


async def render(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing:
    return Outgoing(f"delivery {delivery.id}")


class Telegram:
    """What the agents' phones received, across every process that ever ran."""

    def __init__(self) -> None:
        self.received: list[str] = []


class DyingSender:
    """A process's sender that kills the process at its n-th send, before or after the send reaches Telegram."""

    def __init__(self, telegram: Telegram, crash_at: int | None, after_send: bool) -> None:
        self.telegram, self.crash_at, self.after_send, self.count = telegram, crash_at, after_send, 0

    async def send(self, chat_id: int, message: Outgoing) -> int:
        self.count += 1
        await asyncio.sleep(0)
        if self.count == self.crash_at and not self.after_send:
            raise Crash
        self.telegram.received.append(message.text)
        if self.count == self.crash_at:
            raise Crash
        return len(self.telegram.received)


schedules = st.lists(st.tuples(st.integers(1, 4), st.integers(-90, 90)), min_size=1, max_size=20)
crashes = st.lists(st.tuples(st.integers(1, 6), st.booleans()), max_size=4)
steps = st.lists(st.integers(0, 900), min_size=1, max_size=8).filter(lambda ticks: sum(ticks) >= 60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules, crashes, steps, st.integers(1, 4))
def test_every_delivery_arrives_once_across_crashes_and_restarts(
    plan: list[tuple[int, int]], deaths: list[tuple[int, bool]], ticks: list[int], concurrency: int
) -> None:
    asyncio.run(run_world(plan, deaths, ticks, concurrency))


async def run_world(
    plan: list[tuple[int, int]], deaths: list[tuple[int, bool]], ticks: list[int], concurrency: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'world.db'}")
        async with database.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        sessions = session_factory(database)
        clock = ManualClock(START)
        await seed(sessions, plan, agents=4)
        telegram = Telegram()
        windows: Counter[str] = Counter()  # how often each message died between Telegram and our commit
        remaining_deaths = list(deaths)
        tick = itertools.cycle(ticks)
        for _ in range(400):
            crash_at, after_send = remaining_deaths.pop(0) if remaining_deaths else (None, False)
            sender = DyingSender(telegram, crash_at, after_send)
            first_received = len(telegram.received)
            process = Engine(
                sessions, clock, sender, {KIND: Kind(render)}, EngineSettings(lease=LEASE, concurrency=concurrency)
            )
            died = False
            try:
                while not await all_done(sessions):
                    await process.sweep()
                    clock.advance(timedelta(seconds=next(tick)))
            except* Crash:
                died = True
                await process.ownership.abandon()  # type: ignore[union-attr]  # the kernel drops the dead's locks
            if not died:
                await process.stop()
                break
            # Whatever reached a phone but is not committed as sent died in the window no sender can close.
            windows.update(set(telegram.received[first_received:]) - await sent_texts(sessions))
            # The restart comes at once: the next process takes the dead one's claims back without waiting for
            # their lease (the clock does not move here).
        assert await all_done(sessions), "the world ran out of restarts"
        counts = Counter(telegram.received)
        async with sessions() as session:
            ids = (await session.execute(select(Delivery.id))).scalars().all()
        assert set(counts) == {f"delivery {i}" for i in ids}, "every delivery arrives"
        repeated = {text: n - 1 for text, n in counts.items() if n > 1}
        assert all(extra <= windows[text] for text, extra in repeated.items()), (
            f"only a death in the send-then-commit window may repeat a message: {repeated}, windows {windows}"
        )
        await database.dispose()


async def seed(sessions: async_sessionmaker[AsyncSession], plan: list[tuple[int, int]], agents: int) -> None:
    """`agents` agents and a delivery for each (agent, minutes from START) in `plan`."""
    async with sessions() as session, session.begin():
        for user in range(1, agents + 1):
            session.add(
                Agent(
                    telegram_user_id=user,
                    chat_id=user,
                    display_name="A",
                    language="en",
                    timezone="UTC",
                    reflection_time=START.time(),
                    work_days="1234567",
                    digest_weekday=7,
                    digest_time=START.time(),
                    setup_step=None,
                    active=True,
                    created_at=START,
                    updated_at=START,
                )
            )
        await session.flush()
        for agent_id, minutes in plan:
            await schedule(session, agent_id=agent_id, kind=KIND, due_at=START + timedelta(minutes=minutes), now=START)


async def sent_texts(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        ids = (await session.execute(select(Delivery.id).where(Delivery.status == "sent"))).scalars().all()
    return {f"delivery {i}" for i in ids}


async def all_done(sessions: async_sessionmaker[AsyncSession]) -> bool:
    async with sessions() as session:
        statuses = (await session.execute(select(Delivery.status))).scalars().all()
    return all(status == "sent" for status in statuses)


class Recorder:
    def __init__(self, telegram: Telegram) -> None:
        self.telegram = telegram

    async def send(self, chat_id: int, message: Outgoing) -> int:
        await asyncio.sleep(0)  # let the other process run in between
        self.telegram.received.append(message.text)
        return len(self.telegram.received)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.integers(-30, 30)), min_size=1, max_size=60),
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.tuples(st.integers(1, 8), st.integers(1, 8)),
)
def test_two_processes_on_one_postgresql_never_send_twice(
    postgres_url: str, plan: list[tuple[int, int]], batches: tuple[int, int], concurrency: tuple[int, int]
) -> None:
    asyncio.run(run_two_processes(postgres_url, plan, batches, concurrency))


async def run_two_processes(
    url: str, plan: list[tuple[int, int]], batches: tuple[int, int], concurrency: tuple[int, int]
) -> None:
    database = create_engine(url)
    async with database.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    sessions = session_factory(database)
    clock = ManualClock(START)
    await seed(sessions, plan, agents=12)
    telegram = Telegram()
    processes = [
        Engine(
            sessions, clock, Recorder(telegram), {KIND: Kind(render)}, EngineSettings(batch=batch, concurrency=workers)
        )
        for batch, workers in zip(batches, concurrency, strict=True)
    ]

    async def run(process: Engine) -> None:
        for _ in range(40):
            await process.sweep()
            await asyncio.sleep(0)

    for _ in range(4):  # a while of both sweeping at once, then the clock moves on
        await asyncio.gather(*(run(process) for process in processes))
        clock.advance(timedelta(minutes=20))
    for process in processes:
        await process.stop()
    counts = Counter(telegram.received)
    async with sessions() as session:
        ids = (await session.execute(select(Delivery.id))).scalars().all()
    assert sorted(counts) == sorted(f"delivery {i}" for i in ids)
    assert max(counts.values()) == 1, {text: n for text, n in counts.items() if n > 1}
    await database.dispose()
