"""The engine at its edges: processes that start together, die, stall or lose their lock; failures after a send;
agents with more due rows than attempts. Each test states a rule the engine must keep, on both backends where the
rule applies to both.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import recurring, tips
from bot.agents import NewAgent, get_or_register
from bot.clock import ManualClock
from bot.db import create_engine, session_factory
from bot.models import ONE_WAITING_KINDS, Agent, Delivery, TipState
from bot.ownership import DatabaseInUse
from bot.reflections import LATER
from bot.scheduler import Engine, EngineSettings, Kind, Outgoing, TransientFailure, schedule
from bot.statuses import SendPriority
from tests.conftest import START

KIND = "test"
T = TypeVar("T")


class Phone:
    """What reached the agents' phones, and a way to make the next sends fail."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str]] = []
        self.failures: list[Exception] = []

    async def send(self, chat_id: int, message: Outgoing) -> int:
        await asyncio.sleep(0)
        if self.failures:
            raise self.failures.pop(0)
        self.received.append((chat_id, message.text))
        return len(self.received)

    def texts(self) -> list[str]:
        return [text for _, text in self.received]


async def render(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing:
    return Outgoing(f"delivery {delivery.id}{' late' if delivery.late else ''}")


async def within(awaitable: Awaitable[T], seconds: float = 10.0) -> T:
    """A bounded wait: a broken engine fails the test instead of hanging it."""
    return await asyncio.wait_for(awaitable, seconds)


class Gate:
    """A send budget that holds chosen acquisitions until released: a process stalled before its last check."""

    def __init__(self, hold: int = 1) -> None:
        self.hold, self.entered, self.release = hold, asyncio.Event(), asyncio.Event()

    async def acquire(self, chat_id: int, priority: SendPriority) -> None:
        if self.hold > 0:
            self.hold -= 1
            self.entered.set()
            await self.release.wait()


def process(sessions: async_sessionmaker[AsyncSession], clock: ManualClock, phone: Phone, **options: object) -> Engine:
    settings = EngineSettings(backoff=timedelta(seconds=10), max_attempts=3)
    return Engine(sessions, clock, phone, {KIND: Kind(render)}, settings, **options)  # type: ignore[arg-type]


@pytest.fixture
async def engines() -> AsyncIterator[list[Engine]]:
    """Processes a test starts; stopped at the end (their locks released) even when the test fails."""
    started: list[Engine] = []
    yield started
    for each in started:
        await each.stop()


@pytest.fixture
async def on_postgresql(postgres_url: str, engines: list[Engine]) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """An emptied PostgreSQL database for the tests about several processes (SQLite takes one); the processes a
    test starts are stopped before the database goes."""
    database = create_engine(postgres_url)
    async with database.begin() as connection:
        await connection.execute(text("TRUNCATE agents, deliveries RESTART IDENTITY CASCADE"))
    try:
        yield session_factory(database)
    finally:
        for each in engines:
            await each.stop()
        engines.clear()
        await database.dispose()


async def add_agents(sessions: async_sessionmaker[AsyncSession], count: int, **values: object) -> list[int]:
    ids = []
    async with sessions() as session, session.begin():
        for user in range(1, count + 1):
            agent = await get_or_register(session, NewAgent(user, user, f"A{user}", "en", "Asia/Shanghai"), START)
            agent.setup_step = None
            for name, value in values.items():
                setattr(agent, name, value)
            ids.append(agent.id)
    return ids


async def due(sessions: async_sessionmaker[AsyncSession], agent_id: int, at: datetime, kind: str = KIND) -> int:
    async with sessions() as session, session.begin():
        return (await schedule(session, agent_id=agent_id, kind=kind, due_at=at, now=START)).id


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sessions() as session:
        return {row[0]: row[1] for row in (await session.execute(select(Delivery.id, Delivery.status))).all()}


async def waiting(sessions: async_sessionmaker[AsyncSession], kind: str) -> dict[int, int]:
    """Waiting rows of a kind per agent."""
    async with sessions() as session:
        rows = await session.execute(
            select(Delivery.agent_id, func.count())
            .where(Delivery.kind == kind, Delivery.status.in_(("pending", "claimed", "sending", "held")))
            .group_by(Delivery.agent_id)
        )
        return {row[0]: row[1] for row in rows.all()}


# ---------------------------------------------------------------------------------------------- one waiting


async def test_a_second_waiting_tip_for_an_agent_is_refused_by_the_database(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The invariant lives in the schema, not only in the code that usually keeps it."""
    [agent] = await add_agents(sessions, 1)
    await due(sessions, agent, START, recurring.DAILY_TIP)
    with pytest.raises(IntegrityError):
        await due(sessions, agent, START + timedelta(days=1), recurring.DAILY_TIP)
    # Other kinds, and a tip that is no longer waiting, are not limited.
    await due(sessions, agent, START, KIND)
    await due(sessions, agent, START, KIND)
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE deliveries SET status = 'sent' WHERE kind = 'tip'"))
    await due(sessions, agent, START + timedelta(days=1), recurring.DAILY_TIP)


def test_every_recurring_kind_is_held_to_one_waiting_row() -> None:
    """A new recurring kind needs its migration: the partial unique index names the kinds it covers."""
    assert {*recurring.RULES, LATER} <= set(ONE_WAITING_KINDS)


async def test_two_processes_starting_together_add_one_of_each_recurring_kind_per_agent(
    on_postgresql: async_sessionmaker[AsyncSession], postgres_url: str
) -> None:
    """Both run the start-up check at the same moment, each on its own connections (as two processes do)."""
    agents = await add_agents(on_postgresql, 30, tip_time=time(8, 30))
    other_process = create_engine(postgres_url)
    try:
        added = await asyncio.gather(
            recurring.ensure_scheduled(on_postgresql, START, batch=7),
            recurring.ensure_scheduled(session_factory(other_process), START, batch=7),
        )
    finally:
        await other_process.dispose()
    assert sum(added) == 3 * len(agents)  # what each reports is what it really added (tip, prompt, digest)
    for kind in (recurring.DAILY_TIP, recurring.REFLECTION, recurring.DIGEST):
        assert await waiting(on_postgresql, kind) == dict.fromkeys(agents, 1)


async def test_a_settings_change_racing_a_reschedule_leaves_one_waiting(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    [agent_id] = await add_agents(sessions, 1, tip_time=time(8, 30))
    for step in range(3):
        async with sessions() as session, session.begin():
            agent = await session.get(Agent, agent_id)
            assert agent is not None
            await recurring.reschedule(session, agent, START + timedelta(minutes=step))
    assert await recurring.ensure_scheduled(sessions, START) == 0
    assert await waiting(sessions, recurring.DAILY_TIP) == {agent_id: 1}


# ---------------------------------------------------------------------------------------------- after a send


async def test_a_failure_after_the_send_never_sends_it_again(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    engines: list[Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bookkeeping fails (as tips.mark_shown once did with an IntegrityError): the message stays sent, the
    failure is logged, and the kind's repair keeps its chain going."""

    async def broken(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> None:
        raise IntegrityError("INSERT INTO tip_states …", {}, Exception("duplicate key"))

    async def next_one(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> None:
        await schedule(session, agent_id=agent.id, kind=KIND, due_at=delivery.due_at + timedelta(days=1), now=now)

    phone = Phone()
    worker = process(sessions, clock, phone)
    worker.kinds[KIND] = Kind(render, after_sent=broken, repair=next_one)
    engines.append(worker)
    [agent] = await add_agents(sessions, 1)
    first = await due(sessions, agent, START)
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        assert (await worker.sweep()).sent == 1
    assert f"delivery {first} was sent, but what follows a send failed; repairing" in caplog.messages
    for _ in range(6):  # well past any retry delay
        clock.advance(timedelta(minutes=1))
        await worker.sweep()
    assert phone.texts() == [f"delivery {first}"]
    assert (await statuses(sessions))[first] == "sent"
    async with sessions() as session:
        nexts = (await session.execute(select(Delivery.due_at).where(Delivery.status == "pending"))).scalars().all()
    assert list(nexts) == [START + timedelta(days=1)]


async def test_the_daily_tip_counts_as_shown_even_when_the_agent_opened_it_at_the_same_moment(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """While the daily tip is on its way, the agent's own /tip shows the same tip in another transaction."""
    from handlers.tips import daily_tip_sent, render_daily_tip

    [agent_id] = await add_agents(sessions, 1, tip_time=time(8, 30))
    tip_delivery = await due(sessions, agent_id, START, recurring.DAILY_TIP)

    class SameMomentPhone(Phone):
        async def send(self, chat_id: int, message: Outgoing) -> int:
            async with sessions() as session, session.begin():  # the agent's /tip, committed first
                chosen = (await session.get(Delivery, tip_delivery)).subject_key  # type: ignore[union-attr]
                assert chosen is not None
                await tips.mark_shown(session, agent_id, chosen, clock.now())
            return await super().send(chat_id, message)

    phone = SameMomentPhone()
    worker = Engine(
        sessions,
        clock,
        phone,
        {recurring.DAILY_TIP: Kind(render_daily_tip, after_sent=daily_tip_sent, repair=recurring.after_sent)},
    )
    engines.append(worker)
    assert (await worker.sweep()).sent == 1
    async with sessions() as session:
        states = (await session.execute(select(TipState.shown))).scalars().all()
        tomorrow = await waiting(sessions, recurring.DAILY_TIP)
    assert list(states) == [2]  # both showings count
    assert tomorrow == {agent_id: 1}
    clock.advance(timedelta(minutes=5))
    assert (await worker.sweep()).claimed == 0  # and the tip was not sent again


# ---------------------------------------------------------------------------------------------- deaths


async def test_a_restarted_process_sends_at_once_what_the_dead_one_had_claimed(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    phone = Phone()
    agents = await add_agents(sessions, 5)
    ids = [await due(sessions, agent, START) for agent in agents]
    dead = process(sessions, clock, phone)
    engines.append(dead)
    assert len(await dead.claim()) == 5  # claimed, committed, and then kill -9
    await dead.ownership.abandon()  # type: ignore[union-attr]
    restarted = process(sessions, clock, phone)
    engines.append(restarted)
    report = await restarted.sweep()  # the same instant: no lease has run out
    assert (report.sent, report.late) == (5, 0)
    assert sorted(phone.texts()) == sorted(f"delivery {i}" for i in ids)
    async with sessions() as session:
        attempts = (await session.execute(select(Delivery.attempts))).scalars().all()
    assert set(attempts) == {1}  # a claim that never reached the send does not count


async def test_a_second_process_on_one_sqlite_file_is_refused(
    tmp_path: Path, clock: ManualClock, engines: list[Engine]
) -> None:
    """SQLite has one process per file: a second one would take the first one's claims for a dead man's."""
    from bot.db import upgrade

    database = create_engine(f"sqlite+aiosqlite:///{tmp_path}/one.db")
    try:
        await upgrade(database)
        sessions = session_factory(database)
        first = process(sessions, clock, Phone())
        engines.append(first)
        await first.start()
        second = process(sessions, clock, Phone())
        with pytest.raises(DatabaseInUse, match="another agentcoach process is using"):
            await second.start()
        await first.ownership.abandon()  # type: ignore[union-attr]  # the first one dies
        engines.append(second)
        await second.start()
    finally:
        for each in engines:
            await each.stop()
        engines.clear()
        await database.dispose()


async def test_a_live_process_takes_over_the_claims_of_one_that_died(
    on_postgresql: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """Two processes on one PostgreSQL; one dies mid-wave; the other sends its rows within a few seconds."""
    sessions, phone = on_postgresql, Phone()
    agents = await add_agents(sessions, 4)
    for agent in agents:
        await due(sessions, agent, START)
    survivor, dying = process(sessions, clock, phone), process(sessions, clock, phone)
    engines.extend([survivor, dying])
    await survivor.start()
    assert len(await dying.claim()) == 4
    await dying.ownership.abandon()  # type: ignore[union-attr]
    await until_lock_released(sessions, dying)
    clock.advance(survivor.settings.rescue_every)
    assert (await survivor.sweep()).sent == 4
    assert len(phone.received) == 4


async def until_lock_released(sessions: async_sessionmaker[AsyncSession], gone: Engine) -> None:
    """The server drops a closed connection's locks as soon as it notices; bounded wait for that."""
    assert gone.ownership is not None
    for _ in range(200):
        async with sessions() as session:
            held = await session.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :low"),
                {"low": gone.ownership.key & 0xFFFFFFFF},
            )
            if held.scalar_one() == 0:
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the server kept a dead connection's advisory lock")


# ---------------------------------------------------------------------------------------------- stalls


async def test_a_sender_stalled_past_its_lease_never_sends_a_row_taken_over(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """The same process sweeps again while one of its sends is stuck before its last check; the lease ran out,
    so the row is claimed afresh. Whoever comes second to the last check must not send."""
    phone = Phone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    stuck_gate, later_gate = Gate(), Gate()
    stuck = process(sessions, clock, phone, budget=stuck_gate)
    engines.append(stuck)
    first = asyncio.create_task(stuck.sweep())
    await within(stuck_gate.entered.wait())
    clock.advance(stuck.settings.lease + timedelta(seconds=1))
    # Another sweep of the same process (same owner), itself stopped right after claiming.
    again = process(sessions, clock, phone, budget=later_gate, ownership=stuck.ownership)
    second = asyncio.create_task(again.sweep())
    await within(later_gate.entered.wait())
    stuck_gate.release.set()  # the stalled one reaches its last check while the row is claimed anew
    assert (await within(first)).taken_over == 1
    later_gate.release.set()
    assert (await within(second)).sent == 1
    assert phone.texts() == [f"delivery {item} late"]


async def test_a_process_that_lost_its_lock_never_sends_what_another_took_over(
    on_postgresql: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """Its lock's connection broke while it was stalled before the last check: another process took the row back
    and claimed it (same attempt number as before); the stalled one must not send it."""
    sessions, phone = on_postgresql, Phone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    stuck_gate, other_gate = Gate(), Gate()
    stuck = process(sessions, clock, phone, budget=stuck_gate)
    other = process(sessions, clock, phone, budget=other_gate)
    engines.extend([stuck, other])
    first = asyncio.create_task(stuck.sweep())
    await within(stuck_gate.entered.wait())
    await stuck.ownership.abandon()  # type: ignore[union-attr]
    await until_lock_released(sessions, stuck)
    second = asyncio.create_task(other.sweep())  # its start takes the row back, then claims it
    await within(other_gate.entered.wait())
    stuck_gate.release.set()
    assert (await within(first)).taken_over == 1
    other_gate.release.set()
    assert (await within(second)).sent == 1
    assert phone.texts() == [f"delivery {item}"]


async def test_in_flight_is_bounded_by_the_concurrency(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """Only rows past the last check can be sent twice after a crash; there are never more than `concurrency`."""

    class SlowPhone(Phone):
        async def send(self, chat_id: int, message: Outgoing) -> int:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().send(chat_id, message)

    phone = SlowPhone()
    agents = await add_agents(sessions, 30)
    for agent in agents:
        await due(sessions, agent, START)
    worker = Engine(sessions, clock, phone, {KIND: Kind(render)}, EngineSettings(concurrency=4))
    engines.append(worker)
    assert (await worker.sweep()).sent == 30
    assert 1 < worker.most_in_flight <= 4
    assert worker.in_flight == 0


async def test_a_stalled_render_never_cancels_a_row_another_sweep_has_sent(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """A sweep stuck while rendering; its lease runs out, another sweep sends the row, and then there is nothing
    to send any more (✅ Done). The stuck one, finding nothing to render, must leave the row as sent."""
    phone, resume, stuck_once, done = Phone(), asyncio.Event(), asyncio.Event(), False

    async def slow_then_gone(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
        if not stuck_once.is_set():
            stuck_once.set()
            await resume.wait()
        return None if done else await render(session, delivery, agent, now)

    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    stuck = process(sessions, clock, phone)
    stuck.kinds[KIND] = Kind(slow_then_gone)
    engines.append(stuck)
    first = asyncio.create_task(stuck.sweep())
    await within(stuck_once.wait())
    clock.advance(stuck.settings.lease + timedelta(seconds=1))
    other = process(sessions, clock, phone, ownership=stuck.ownership)
    other.kinds[KIND] = Kind(slow_then_gone)
    assert (await other.sweep()).sent == 1
    done = True
    resume.set()
    assert (await within(first)).taken_over == 1
    assert (await statuses(sessions)) == {item: "sent"}
    assert len(phone.received) == 1


async def test_a_nudge_cancelled_while_its_send_waits_is_not_sent(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """✅ Done on a follow-up while its nudge is claimed and waiting for the send budget: it must not arrive."""
    from bot.scheduler import cancel

    phone = Phone()
    [agent] = await add_agents(sessions, 1)
    async with sessions() as session, session.begin():
        await schedule(session, agent_id=agent, kind=KIND, due_at=START, now=START, subject_id=77)
    gate = Gate()
    worker = process(sessions, clock, phone, budget=gate)
    engines.append(worker)
    sweeping = asyncio.create_task(worker.sweep())
    await within(gate.entered.wait())
    async with sessions() as session, session.begin():
        assert await cancel(session, KIND, 77) == 1
    gate.release.set()
    assert (await within(sweeping)).taken_over == 1
    assert phone.received == []
    assert set((await statuses(sessions)).values()) == {"cancelled"}


# ---------------------------------------------------------------------------------------------- attempts


async def test_rows_waiting_their_turn_in_a_chat_do_not_use_up_attempts(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """An agent with more due rows than max_attempts, and one network error: a retry, then everything arrives."""
    phone = Phone()
    [agent] = await add_agents(sessions, 1)
    ids = [await due(sessions, agent, START - timedelta(minutes=m)) for m in range(7)]
    worker = process(sessions, clock, phone)
    engines.append(worker)
    phone.failures.append(TransientFailure("Bad Gateway"))
    for _ in range(12):
        await worker.sweep()
        clock.advance(timedelta(seconds=10))
    assert sorted(text.removesuffix(" late") for text in phone.texts()) == sorted(f"delivery {i}" for i in ids)
    async with sessions() as session:
        attempts = {row[0]: row[1] for row in (await session.execute(select(Delivery.id, Delivery.attempts))).all()}
    assert attempts == {i: (2 if i == ids[-1] else 1) for i in ids}  # the oldest went first and was retried once


# ---------------------------------------------------------------------------------------------- gaps mutants showed


async def test_one_agent_blocking_the_bot_holds_only_their_own_deliveries(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    phone = Phone()
    blocker, other = await add_agents(sessions, 2)
    blocked = await due(sessions, blocker, START)
    later = await due(sessions, blocker, START + timedelta(hours=1))
    others = await due(sessions, other, START + timedelta(hours=1))
    worker = process(sessions, clock, phone)
    engines.append(worker)
    from bot.scheduler import AgentUnreachable

    phone.failures.append(AgentUnreachable("Forbidden: bot was blocked by the user"))
    assert (await worker.sweep()).held == 1  # only the blocker's first row is due: it meets the block
    rows = await statuses(sessions)
    assert (rows[blocked], rows[later], rows[others]) == ("held", "held", "pending")
    async with sessions() as session:
        why = (await session.get(Delivery, blocked)).last_error  # type: ignore[union-attr]
    assert why is not None and "blocked" in why  # what an operator reads in the table


async def test_an_agent_back_in_onboarding_does_not_get_yesterdays_tip(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """Blocked, then back with /start (onboarding again): the held daily tip is stale; it must not go out late,
    and the next one is scheduled when onboarding completes (handlers/start.py)."""
    [agent_id] = await add_agents(sessions, 1, tip_time=time(8, 30), active=False)
    tip = await due(sessions, agent_id, START - timedelta(days=1), recurring.DAILY_TIP)
    nudge = await due(sessions, agent_id, START - timedelta(hours=2))
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE deliveries SET status = 'held'"))
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.setup_step = "language"  # they sent /start again
        await get_or_register(session, NewAgent(1, 1, "A1", "en", "Asia/Shanghai"), START)
    rows = await statuses(sessions)
    assert (rows[tip], rows[nudge]) == ("held", "pending")  # the nudge is still relevant, the tip is not


async def test_a_late_daily_tip_leaves_an_overdue_reflection_prompt_alone(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock
) -> None:
    """After the bot was down, today's tip and today's prompt are both overdue; sending the tip schedules the
    next tip only (the prompt goes in the next sweep, one message per chat per sweep)."""
    [agent_id] = await add_agents(sessions, 1, tip_time=time(8, 30), reflection_time=time(8, 0))
    async with sessions() as session, session.begin():
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        await recurring.reschedule(session, agent, START - timedelta(hours=3))  # Wed 06:00 Shanghai
    clock.set(START + timedelta(hours=12))  # the bot comes back at Wed 21:00
    prompts_before = await waiting(sessions, recurring.REFLECTION)
    async with sessions() as session, session.begin():
        tip = (await session.execute(select(Delivery).where(Delivery.kind == recurring.DAILY_TIP))).scalar_one()
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        tip.status = "sent"
        await recurring.after_sent(session, tip, agent, clock.now())
    async with sessions() as session:
        prompt = (
            await session.execute(
                select(Delivery.due_at).where(Delivery.kind == recurring.REFLECTION, Delivery.status == "pending")
            )
        ).scalar_one()
    assert prompts_before == {agent_id: 1}
    assert prompt == START - timedelta(hours=1), "today's 08:00 prompt is still due, not moved to tomorrow"


async def test_a_retry_records_why(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    from bot.scheduler import RetryLater

    phone = Phone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    worker = process(sessions, clock, phone)
    engines.append(worker)
    phone.failures.append(RetryLater(7))
    assert (await worker.sweep()).retried == 1
    async with sessions() as session:
        row = await session.get(Delivery, item)
    assert row is not None and (row.status, row.attempts, row.lease_until) == (
        "pending",
        0,
        START + timedelta(seconds=7),
    )
    assert row.last_error == "retry after 7s"


async def test_a_process_stuck_in_a_send_has_its_row_taken_again_after_the_lease(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """Alive but stuck after its last check (a request that never returns): the lease is the last backstop, so
    the row is sent again rather than never (at-least-once: this is one of the doubles the docs count)."""
    stuck_in_send, release = asyncio.Event(), asyncio.Event()

    class HangingPhone(Phone):
        async def send(self, chat_id: int, message: Outgoing) -> int:
            if not stuck_in_send.is_set():
                stuck_in_send.set()
                await release.wait()
            return await super().send(chat_id, message)

    phone = HangingPhone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    stuck = process(sessions, clock, phone)
    engines.append(stuck)
    first = asyncio.create_task(stuck.sweep())
    await within(stuck_in_send.wait())
    assert (await statuses(sessions))[item] == "sending"
    again = process(sessions, clock, phone, ownership=stuck.ownership)
    assert (await again.sweep()).claimed == 0  # the lease still holds
    clock.advance(stuck.settings.lease + timedelta(seconds=1))
    assert (await again.sweep()).sent == 1
    release.set()
    assert (await within(first)).sent == 1
    assert sorted(phone.texts()) == [f"delivery {item}", f"delivery {item} late"]  # sent twice, never lost


async def test_a_failed_send_records_why_on_the_row(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    engines: list[Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.scheduler import PermanentFailure

    phone = Phone()
    first, second = await add_agents(sessions, 2)
    rejected = await due(sessions, first, START)
    flaky = await due(sessions, second, START)
    worker = process(sessions, clock, phone)
    engines.append(worker)
    errors = {first: PermanentFailure("Bad Request: can't parse entities"), second: TransientFailure("Bad Gateway")}

    async def by_chat(chat_id: int, message: Outgoing) -> int:  # (the two go out concurrently)
        raise errors[chat_id]

    phone.send = by_chat  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        report = await worker.sweep()
    assert f"delivery {rejected} failed: Bad Request: can't parse entities" in caplog.messages
    assert f"delivery {flaky}: Bad Gateway; again in 10s" in caplog.messages  # what an operator reads
    assert (report.failed, report.retried) == (1, 1)
    async with sessions() as session:
        rows = {row.id: row for row in (await session.execute(select(Delivery))).scalars()}
    assert (rows[rejected].status, rows[rejected].last_error) == ("failed", "Bad Request: can't parse entities")
    assert (rows[flaky].status, rows[flaky].last_error) == ("pending", "Bad Gateway")


async def test_a_stopped_process_lets_go_of_its_lock_and_a_broken_lock_is_taken_anew(
    on_postgresql: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    engines: list[Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A clean stop leaves no advisory lock behind; a lock whose connection broke (the server restarted, a
    network cut) is taken again under a new key, and what was claimed under the old one is taken back."""
    from bot.ownership import PostgresOwnership

    sessions, phone = on_postgresql, Phone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    worker = process(sessions, clock, phone)
    engines.append(worker)
    await worker.start()
    ownership = worker.ownership
    assert isinstance(ownership, PostgresOwnership)
    old_key = ownership.key
    assert len(await worker.claim()) == 1
    async with sessions() as session, session.begin():  # the server ends the lock's connection
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = :low "
                "AND pid <> pg_backend_pid()"
            ),
            {"low": old_key & 0xFFFFFFFF},
        )
    with caplog.at_level(logging.WARNING, logger="bot.ownership"):
        assert await worker.rescue() == 1  # notices, takes a new key, and the old key's row comes back
    [broke] = [m for m in caplog.messages if m.startswith("the ownership lock's connection broke")]
    assert broke.endswith("; taking a new one") and "(" in broke and "()" not in broke and "(NoneType)" not in broke
    assert ownership.key != old_key
    assert (await worker.sweep()).sent == 1
    assert phone.texts() == [f"delivery {item}"]
    await worker.stop()
    async with sessions() as session:
        held = await session.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :low"),
            {"low": ownership.key & 0xFFFFFFFF},
        )
        assert held.scalar_one() == 0


async def test_a_live_process_keeps_its_lock_and_its_claims(
    on_postgresql: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """While a process lives its key is locked, the same key every sweep, and no other process's rescue takes
    what it claimed; once it stops cleanly the lock is gone."""
    sessions = on_postgresql
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    owner, other = process(sessions, clock, Phone()), process(sessions, clock, Phone())
    engines.extend([owner, other])
    assert len(await owner.claim()) == 1
    assert owner.ownership is not None
    key = owner.ownership.key

    async def locked(which: int) -> bool:
        async with sessions() as session:
            found = await session.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :low"),
                {"low": which & 0xFFFFFFFF},
            )
            return bool(found.scalar_one())

    assert await locked(key)
    for _ in range(2):
        assert await owner.rescue() == 0 and owner.ownership.key == key and await locked(key)
    await other.start()
    assert await other.rescue() == 0
    assert (await statuses(sessions))[item] == "claimed"
    await owner.stop()
    assert not await locked(key)


async def test_coming_back_resumes_only_the_agents_own_held_rows_and_never_a_sent_one(
    sessions: async_sessionmaker[AsyncSession],
    clock: ManualClock,
    engines: list[Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.scheduler import AgentUnreachable

    phone = Phone()
    first, second = await add_agents(sessions, 2)
    already_sent = await due(sessions, first, START - timedelta(hours=1))
    worker = process(sessions, clock, phone)
    engines.append(worker)
    assert (await worker.sweep()).sent == 1
    blocked = {agent: await due(sessions, agent, START) for agent in (first, second)}
    phone.failures += [AgentUnreachable("Forbidden: bot was blocked by the user")] * 2
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        assert (await worker.sweep()).held == 2
    assert (
        f"agent {second} cannot be reached (Forbidden: bot was blocked by the user): their deliveries are held"
        in caplog.messages
    )
    async with sessions() as session, session.begin():  # only the first agent writes again
        await get_or_register(session, NewAgent(1, 1, "A1", "en", "Asia/Shanghai"), clock.now())
    rows = await statuses(sessions)
    assert (rows[already_sent], rows[blocked[first]], rows[blocked[second]]) == ("sent", "pending", "held")
    async with sessions() as session:
        attempts = (await session.get(Delivery, blocked[first])).attempts  # type: ignore[union-attr]
    assert attempts == 0  # meeting a block is not an attempt at the message
    assert (await worker.sweep()).sent == 1
    assert len(phone.texts()) == 2  # the earlier one is not sent again


async def test_cancelling_a_subjects_nudge_touches_only_what_still_waits_of_that_kind(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """Snoozing a follow-up whose nudge was already sent cancels nothing of what went out, nor another kind's
    row that happens to share the subject's number."""
    from bot.scheduler import cancel

    [agent] = await add_agents(sessions, 1)
    async with sessions() as session, session.begin():
        sent = await schedule(session, agent_id=agent, kind=KIND, due_at=START, now=START, subject_id=5)
        other_kind = await schedule(session, agent_id=agent, kind="other", due_at=START, now=START, subject_id=5)
        waiting_one = await schedule(session, agent_id=agent, kind=KIND, due_at=START, now=START, subject_id=6)
        sent.status = "sent"
    async with sessions() as session, session.begin():
        assert await cancel(session, KIND, 5) == 0
        assert await cancel(session, KIND, 6) == 1
    rows = await statuses(sessions)
    assert (rows[sent.id], rows[other_kind.id], rows[waiting_one.id]) == ("sent", "pending", "cancelled")


async def test_a_send_that_fails_after_another_process_sent_the_row_does_not_queue_it_again(
    on_postgresql: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """A process stuck in its request loses its lock; another takes the row back, sends and confirms it; then
    the stuck request fails. Its retry must not put the sent row back to pending (it would go out twice)."""
    sessions = on_postgresql
    stuck_in_send, release = asyncio.Event(), asyncio.Event()

    class FailingLate(Phone):
        async def send(self, chat_id: int, message: Outgoing) -> int:
            if not stuck_in_send.is_set():
                stuck_in_send.set()
                await release.wait()
                raise TransientFailure("Bad Gateway")
            return await super().send(chat_id, message)

    phone = FailingLate()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START)
    stuck, other = process(sessions, clock, phone), process(sessions, clock, phone)
    engines.extend([stuck, other])
    first = asyncio.create_task(stuck.sweep())
    await within(stuck_in_send.wait())
    await stuck.ownership.abandon()  # type: ignore[union-attr]
    await until_lock_released(sessions, stuck)
    assert (await other.sweep()).sent == 1
    release.set()
    await within(first)
    assert (await statuses(sessions))[item] == "sent"
    clock.advance(timedelta(minutes=1))
    assert (await other.sweep()).claimed == 0
    assert len(phone.received) == 1


async def test_a_delivery_of_a_kind_this_version_does_not_know_is_cancelled(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    """A row left by a newer version, or a kind since removed: nothing to render, so cancelled, never retried."""
    phone = Phone()
    [agent] = await add_agents(sessions, 1)
    item = await due(sessions, agent, START, kind="from_the_future")
    worker = process(sessions, clock, phone)
    engines.append(worker)
    assert (await worker.sweep()).cancelled == 1
    assert (await statuses(sessions))[item] == "cancelled" and phone.received == []


async def test_a_row_due_for_an_agent_known_to_have_blocked_the_bot_is_held_and_sent_at_once_when_they_return(
    sessions: async_sessionmaker[AsyncSession], clock: ManualClock, engines: list[Engine]
) -> None:
    phone = Phone()
    [agent] = await add_agents(sessions, 1, active=False)
    item = await due(sessions, agent, START)
    worker = process(sessions, clock, phone)
    engines.append(worker)
    assert (await worker.sweep()).cancelled == 1  # nothing sent: the row is put aside …
    assert (await statuses(sessions))[item] == "held"  # … held, not cancelled
    async with sessions() as session, session.begin():
        await get_or_register(session, NewAgent(1, 1, "A1", "en", "Asia/Shanghai"), START)
    assert (await worker.sweep()).sent == 1  # at once, not a claim's lease later


async def test_the_sqlite_lock_file_is_owner_only_names_its_holder_and_the_refusal_names_the_file(
    tmp_path: Path,
) -> None:
    from bot.ownership import SoleOwnership

    database = tmp_path / "agents.db"
    first, second = SoleOwnership(database), SoleOwnership(database)
    await first.start()
    try:
        assert lock_file(Path(f"{database}.lock")) == (0o600, f"{os.getpid()}\n")
        with pytest.raises(DatabaseInUse) as refused:
            await second.start()
        assert str(refused.value).startswith(f"another agentcoach process is using {database}: stop it first")
    finally:
        await first.stop()
    before = os.listdir()
    nowhere = SoleOwnership()  # a database without a file (in memory): no lock file anywhere
    await nowhere.start()
    await nowhere.stop()
    assert os.listdir() == before


def lock_file(path: Path) -> tuple[int, str]:
    """The lock file's permission bits and what it says (read outside the event loop's concerns)."""
    return path.stat().st_mode & 0o777, path.read_text()


async def test_the_start_up_check_skips_agents_still_in_onboarding_and_agents_who_blocked_the_bot(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Only agents who finished onboarding and can be reached get their tip and prompt added at start-up (the
    others get theirs when onboarding completes, or when they write again)."""
    ready, onboarding, blocked = await add_agents(sessions, 3, tip_time=time(8, 30))
    async with sessions() as session, session.begin():
        (await session.get(Agent, onboarding)).setup_step = "timezone"  # type: ignore[union-attr]
        (await session.get(Agent, blocked)).active = False  # type: ignore[union-attr]
    assert await recurring.ensure_scheduled(sessions, START) == 3  # the tip, the prompt and the weekly digest
    for kind in (recurring.DAILY_TIP, recurring.REFLECTION, recurring.DIGEST):
        assert await waiting(sessions, kind) == {ready: 1}
