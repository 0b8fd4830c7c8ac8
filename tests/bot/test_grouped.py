"""Group commit (bot.grouped), and the engine that delivers through it, on both databases.

The rules: a row that comes in a quiet moment goes at once, alone; rows that come while a group is being committed
share the next transaction; each caller resumes only once its own row is committed, with its own result; one bad
row fails alone and never takes the others with it; a caller that gives up does not stall anyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.agents import NewAgent, get_or_register
from bot.clock import ManualClock
from bot.db import session_factory
from bot.grouped import DRAINING, Grouped
from bot.models import Agent, Delivery
from bot.scheduler import Engine, EngineSettings, Kind, Outgoing, schedule
from tests.conftest import START


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE probe (v INTEGER NOT NULL)"))
    yield session_factory(engine)
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE probe"))


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessions() as session:
        return sorted((await session.execute(text("SELECT v FROM probe"))).scalars())


class Probe:
    """A step that writes each row's value and answers its double; 13 is a bug. It can be held at its first
    group, so that rows arrive while that group is under way."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.hold: asyncio.Event | None = None
        self.holding = asyncio.Event()

    def release(self) -> None:
        """Let the held group go on to its commit."""
        assert self.hold is not None
        self.hold.set()

    async def __call__(self, session: AsyncSession, values: Sequence[int]) -> list[int]:
        self.groups.append(list(values))
        for value in values:
            await session.execute(text("INSERT INTO probe (v) VALUES (:v)"), {"v": value})
            if value == 13:
                raise ValueError("thirteen")
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
            self.hold = None
        return [value * 2 for value in values]


async def start_held(grouped: Grouped[int, int], probe: Probe, value: int) -> asyncio.Task[int]:
    """`value` alone in a group that stays uncommitted until `probe.hold` is set: rows given meanwhile queue."""
    probe.hold = asyncio.Event()
    task = asyncio.create_task(grouped.run(value))
    await probe.holding.wait()
    return task


async def test_rows_arriving_while_a_group_commits_share_the_next_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe)
    assert await grouped.run(1) == 2  # a quiet moment: at once, alone
    first = await start_held(grouped, probe, 2)
    later = [asyncio.create_task(grouped.run(v)) for v in (3, 4, 5)]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *later])
    assert await stored(sessions) == [1]  # the held group has not committed: nobody was told it had
    probe.release()
    assert await asyncio.gather(first, *later) == [4, 6, 8, 10]
    assert probe.groups == [[1], [2], [3, 4, 5]]
    assert await stored(sessions) == [1, 2, 3, 4, 5]
    assert (grouped.groups, grouped.rows) == (3, 5)


async def test_a_caller_resumes_only_once_its_row_is_committed(sessions: async_sessionmaker[AsyncSession]) -> None:
    grouped = Grouped(sessions, Probe())
    for value in (7, 8):
        await grouped.run(value)
        assert value in await stored(sessions)  # seen from another connection at once


async def test_one_bad_row_fails_alone_and_the_others_are_kept(sessions: async_sessionmaker[AsyncSession]) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe)
    results = await asyncio.gather(*(grouped.run(v) for v in (11, 12, 13, 14)), return_exceptions=True)
    assert results[:2] == [22, 24] and results[3] == 28
    assert isinstance(results[2], ValueError) and str(results[2]) == "thirteen"
    assert await stored(sessions) == [11, 12, 14]  # nothing of the bad row, nothing twice
    assert probe.groups[0] == [11, 12, 13, 14] and [13] in probe.groups  # tried together, then alone


async def test_groups_are_bounded(sessions: async_sessionmaker[AsyncSession]) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe, limit=4)
    values = [v for v in range(20, 30)]
    assert await asyncio.gather(*(grouped.run(v) for v in values)) == [v * 2 for v in values]
    assert [len(group) for group in probe.groups] == [4, 4, 2]
    assert await stored(sessions) == values


async def test_a_caller_that_gives_up_stalls_nobody(sessions: async_sessionmaker[AsyncSession]) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe)
    first = await start_held(grouped, probe, 40)
    impatient = asyncio.create_task(grouped.run(41))
    patient = asyncio.create_task(grouped.run(42))
    await asyncio.sleep(0)
    impatient.cancel()
    probe.release()
    assert await first == 80 and await patient == 84
    assert impatient.cancelled()
    assert await stored(sessions) == [40, 41, 42]  # its row was done all the same, once
    assert await grouped.run(43) == 86  # and the next one goes as usual


async def test_a_lone_bad_row_gets_its_own_error_and_the_next_row_goes_as_usual(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe)
    with pytest.raises(ValueError, match="thirteen"):
        await grouped.run(13)
    assert probe.groups == [[13]]  # tried once: alone already
    assert await grouped.run(14) == 28
    assert await stored(sessions) == [14]


async def test_rows_waiting_when_the_process_stops_are_cancelled_not_left_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    probe = Probe()
    grouped = Grouped(sessions, probe)
    first = await start_held(grouped, probe, 50)
    queued = asyncio.create_task(grouped.run(51))
    await asyncio.sleep(0)
    [committing] = [task for task in asyncio.all_tasks() if task.get_name() == DRAINING]
    committing.cancel()  # as the loop does to every task when the process stops
    results = await asyncio.wait_for(asyncio.gather(first, queued, return_exceptions=True), timeout=5)
    assert [type(result) for result in results] == [asyncio.CancelledError, asyncio.CancelledError]
    assert await stored(sessions) == []  # the group under way was rolled back, the queued row never began
    probe.hold = None
    assert await grouped.run(52) == 104  # a later row goes as usual, alone
    assert await stored(sessions) == [52]


async def test_a_step_that_answers_for_the_wrong_rows_fails_each_and_keeps_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def forgetful(session: AsyncSession, values: Sequence[int]) -> list[int]:
        for value in values:
            await session.execute(text("INSERT INTO probe (v) VALUES (:v)"), {"v": value})
        return [value * 2 for value in values[1:]]  # one result short: whose is whose?

    grouped = Grouped(sessions, forgetful)
    results = await asyncio.wait_for(asyncio.gather(*(grouped.run(v) for v in (60, 61)), return_exceptions=True), 5)
    assert [type(result) for result in results] == [ValueError, ValueError]
    assert await stored(sessions) == []


class CountingSender:
    """Answers each message with an id of its own (from the delivery id in the text), so a mix-up between the
    rows of a group would show in the stored ids."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def send(self, chat_id: int, message: Outgoing) -> int:
        await asyncio.sleep(0)  # the sends of a sweep interleave as real ones do
        self.sent.append((chat_id, message.text))
        return 10_000 + int(message.text.split()[1])


async def render(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    return None if delivery.subject_id == 0 else Outgoing(f"delivery {delivery.id} for {agent.chat_id}")


async def test_a_backlog_goes_out_once_each_with_its_own_message_id(engine: AsyncEngine, clock: ManualClock) -> None:
    sessions = session_factory(engine)
    due: dict[int, int] = {}  # delivery id → chat
    cancelled: list[int] = []
    async with sessions() as session, session.begin():
        for n in range(1, 61):
            agent = await get_or_register(session, NewAgent(n, 500 + n, f"A{n}", "zh-Hans", "Asia/Shanghai"), START)
            for k in range(2):  # two per agent: one message per chat per sweep, so two sweeps at least
                delivery = await schedule(
                    session, agent_id=agent.id, kind="t", due_at=START + timedelta(seconds=k), now=START
                )
                if n % 10 == 0 and k == 1:
                    delivery.subject_id = 0  # nothing to send any more
                    cancelled.append(delivery.id)
                else:
                    due[delivery.id] = agent.chat_id
    commits = 0

    def count(*_: object) -> None:
        nonlocal commits
        commits += 1

    sender = CountingSender()
    process = Engine(sessions, clock, sender, {"t": Kind(render)}, EngineSettings(concurrency=16))
    clock.advance(timedelta(minutes=1))
    event.listen(engine.sync_engine, "commit", count)
    try:
        sent = 0
        for _ in range(5):
            sent += (await process.sweep()).sent
    finally:
        event.remove(engine.sync_engine, "commit", count)
        await process.stop()
    assert sent == len(due) == 114
    assert sorted(text for _, text in sender.sent) == sorted(f"delivery {d} for {c}" for d, c in due.items())
    async with sessions() as session:
        rows = (await session.execute(select(Delivery.id, Delivery.status, Delivery.message_id))).all()
    assert {row.id: (row.status, row.message_id) for row in rows} == {
        **{d: ("sent", 10_000 + d) for d in due},
        **{d: ("cancelled", None) for d in cancelled},
    }
    # Rendering, the last check and the confirmation of 120 rows, each alone, would commit ≥ 360 times.
    assert commits < 120


async def test_a_kind_that_renders_alone_renders_its_rows_side_by_side(engine: AsyncEngine, clock: ManualClock) -> None:
    """The digest's render waits on its chart: its rows must not wait for each other's in one group."""
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        for n in (1, 2):
            agent = await get_or_register(session, NewAgent(n, 700 + n, f"A{n}", "en", "Asia/Shanghai"), START)
            await schedule(session, agent_id=agent.id, kind="chart", due_at=START, now=START)
    both_drawing = asyncio.Event()
    drawing = 0

    async def draw(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
        nonlocal drawing
        drawing += 1
        if drawing == 2:
            both_drawing.set()
        await asyncio.wait_for(both_drawing.wait(), timeout=5)  # one after the other, the first would time out
        return Outgoing(f"chart {delivery.id} for {agent.chat_id}")

    sender = CountingSender()
    process = Engine(sessions, clock, sender, {"chart": Kind(draw, renders_alone=True)})
    try:
        report = await process.sweep()
    finally:
        await process.stop()
    assert (report.sent, report.retried, drawing) == (2, 0, 2)  # each drawn once, neither given up on
    assert sorted(text for _, text in sender.sent) == ["chart 1 for 701", "chart 2 for 702"]
