"""The scheduling engine against a real database and the in-process Bot API answering like Telegram.

Time is a ManualClock: a test moves it and runs a sweep, nothing sleeps for a schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from telegram import Bot

from bot.agents import NewAgent, get_or_register
from bot.clock import ManualClock
from bot.db import create_engine, session_factory
from bot.models import Agent, Base, Delivery
from bot.scheduler import Engine, EngineSettings, Kind, Outgoing, schedule, schedule_once
from bot.statuses import DeliveryKind, DeliveryStatus
from runtime.app import LOCAL_TOKEN
from runtime.delivery import TelegramSender
from runtime.local_api import LocalBotAPI
from tests.conftest import START

KIND = "test"


async def render(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
    marker = " (late)" if delivery.late else ""
    return Outgoing(f"delivery {delivery.id}{marker}", [[("ok", f"t:{delivery.id}")]])


@dataclass
class Rig:
    engine: Engine
    sessions: async_sessionmaker[AsyncSession]
    clock: ManualClock
    api: LocalBotAPI

    def sent(self) -> list[str]:
        return [str(call.params["text"]) for call in self.api.calls if call.method == "sendMessage" and call.ok]

    async def add_agent(self, user_id: int, zone: str = "Asia/Shanghai") -> int:
        async with self.sessions() as session, session.begin():
            agent = await get_or_register(session, NewAgent(user_id, user_id, f"A{user_id}", "en", zone), START)
            return agent.id

    async def due(self, agent_id: int, at: datetime) -> int:
        async with self.sessions() as session, session.begin():
            return (await schedule(session, agent_id=agent_id, kind=KIND, due_at=at, now=self.clock.now())).id

    async def statuses(self) -> dict[int, str]:
        async with self.sessions() as session:
            rows = (await session.execute(select(Delivery.id, Delivery.status))).all()
            return {row[0]: row[1] for row in rows}

    async def delivery(self, delivery_id: int) -> Delivery:
        async with self.sessions() as session:
            found = await session.get(Delivery, delivery_id)
        assert found is not None
        return found


@pytest.fixture
async def rig(engine: AsyncEngine, clock: ManualClock) -> AsyncIterator[Rig]:
    api = LocalBotAPI()
    bot = Bot(LOCAL_TOKEN, request=api, get_updates_request=api)
    await bot.initialize()
    sessions = session_factory(engine)
    settings = EngineSettings(backoff=timedelta(seconds=10), max_attempts=3)
    process = Engine(sessions, clock, TelegramSender(bot), {KIND: Kind(render)}, settings)
    yield Rig(process, sessions, clock, api)
    await process.stop()
    await bot.shutdown()


async def test_sends_what_is_due_once_and_only_when_due(rig: Rig) -> None:
    agent = await rig.add_agent(1)
    first = await rig.due(agent, START + timedelta(minutes=1))
    assert (await rig.engine.sweep()).claimed == 0
    rig.clock.advance(timedelta(minutes=1))
    report = await rig.engine.sweep()
    assert (report.sent, report.late) == (1, 0)
    assert rig.sent() == [f"delivery {first}"]
    assert (await rig.engine.sweep()).claimed == 0
    done = await rig.delivery(first)
    assert (done.status, done.sent_at, done.message_id) == ("sent", START + timedelta(minutes=1), 1)


async def test_one_message_per_chat_per_sweep_oldest_first(rig: Rig) -> None:
    one, two = await rig.add_agent(1), await rig.add_agent(2)
    later = await rig.due(one, START - timedelta(minutes=1))
    earlier = await rig.due(one, START - timedelta(minutes=5))
    other = await rig.due(two, START - timedelta(minutes=3))
    assert (await rig.engine.sweep()).sent == 2
    assert sorted(rig.sent()) == sorted([f"delivery {earlier} (late)", f"delivery {other} (late)"])
    assert (await rig.engine.sweep()).sent == 1
    assert rig.sent()[-1] == f"delivery {later}"  # one minute late is not "late" yet
    assert set((await rig.statuses()).values()) == {"sent"}


async def test_downtime_catch_up_is_sent_at_start_marked_late_oldest_first(rig: Rig) -> None:
    rig.engine.settings.batch = 2  # more fell due than one sweep takes: the oldest go first
    rig.engine.settings.wave_shares = 1  # one share a sweep (a recurring kind's rows go in shares)
    agents = [await rig.add_agent(user) for user in range(1, 6)]
    ids = {
        minutes: await rig.due(agent, START - timedelta(minutes=minutes))
        for minutes, agent in zip((50, 10, 30, 40, 20), agents, strict=True)
    }
    batches = []
    for _ in range(3):
        before = len(rig.sent())
        report = await rig.engine.sweep()
        assert report.late == report.sent
        batches.append(sorted(rig.sent()[before:]))
    assert batches == [sorted(f"delivery {ids[m]} (late)" for m in group) for group in ((50, 40), (30, 20), (10,))]


async def test_a_blocked_bot_holds_every_nudge_and_all_arrive_when_the_agent_is_back(rig: Rig) -> None:
    """The nudge that met the block is not lost: it is held with the others, and all come when they write again."""
    agent = await rig.add_agent(1)
    blocked = await rig.due(agent, START)
    held = await rig.due(agent, START + timedelta(hours=1))
    rig.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    assert (await rig.engine.sweep()).held == 1
    assert await rig.statuses() == {blocked: "held", held: "held"}
    async with rig.sessions() as session:
        assert (await session.get(Agent, agent)).active is False  # type: ignore[union-attr]
    rig.clock.advance(timedelta(hours=2))
    assert (await rig.engine.sweep()).claimed == 0  # nothing is sent to someone who blocked us

    async with rig.sessions() as session, session.begin():  # they write to the bot again
        await get_or_register(session, NewAgent(1, 1, "A1", "en", "Asia/Shanghai"), rig.clock.now())
    for _ in range(2):  # one message per chat per sweep
        report = await rig.engine.sweep()
        assert (report.sent, report.late) == (1, 1)
    assert rig.sent() == [f"delivery {blocked} (late)", f"delivery {held} (late)"]
    assert set((await rig.statuses()).values()) == {"sent"}


async def test_retry_after_is_honoured_without_losing_or_counting(rig: Rig) -> None:
    agent = await rig.add_agent(1)
    item = await rig.due(agent, START)
    rig.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    assert (await rig.engine.sweep()).retried == 1
    waiting = await rig.delivery(item)
    assert (waiting.status, waiting.attempts, waiting.lease_until) == ("pending", 0, START + timedelta(seconds=7))
    rig.clock.advance(timedelta(seconds=6))
    assert (await rig.engine.sweep()).claimed == 0
    rig.clock.advance(timedelta(seconds=1))
    assert (await rig.engine.sweep()).sent == 1
    assert rig.sent() == [f"delivery {item}"]


async def test_network_errors_back_off_and_give_up_after_a_bound(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    agent = await rig.add_agent(1)
    item = await rig.due(agent, START)
    for _ in range(3):
        rig.api.fail_next("sendMessage", 502, "Bad Gateway")
    assert (await rig.engine.sweep()).retried == 1
    assert (await rig.delivery(item)).lease_until == START + timedelta(seconds=10)
    rig.clock.advance(timedelta(seconds=10))
    assert (await rig.engine.sweep()).retried == 1
    assert (await rig.delivery(item)).lease_until == START + timedelta(seconds=30)  # 10 s, then 20 s
    rig.clock.advance(timedelta(seconds=20))
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        assert (await rig.engine.sweep()).failed == 1
    failed = await rig.delivery(item)
    assert failed.status == "failed" and "gave up after 3 attempts" in (failed.last_error or "")
    assert f"delivery {item} failed" in caplog.text
    assert rig.sent() == []


async def test_a_network_error_then_success_sends_once(rig: Rig) -> None:
    agent = await rig.add_agent(1)
    item = await rig.due(agent, START)
    rig.api.fail_next("sendMessage", 502, "Bad Gateway")
    await rig.engine.sweep()
    rig.clock.advance(timedelta(seconds=10))
    assert (await rig.engine.sweep()).sent == 1
    assert rig.sent() == [f"delivery {item}"]


async def test_a_rejected_message_fails_without_retrying(rig: Rig) -> None:
    agent = await rig.add_agent(1)
    item = await rig.due(agent, START)
    rig.api.fail_next("sendMessage", 400, "Bad Request: can't parse entities")
    assert (await rig.engine.sweep()).failed == 1
    assert (await rig.delivery(item)).status == "failed"


async def test_a_claim_whose_process_died_is_retried_after_its_lease(rig: Rig) -> None:
    agent = await rig.add_agent(1)
    item = await rig.due(agent, START)
    assert [c.id for c in await rig.engine.claim()] == [item]  # claimed, then the process dies
    assert (await rig.engine.sweep()).claimed == 0  # the lease still holds
    rig.clock.advance(rig.engine.settings.lease + timedelta(seconds=1))
    assert (await rig.engine.sweep()).sent == 1
    assert rig.sent() == [f"delivery {item} (late)"]


async def test_nothing_to_send_any_more_is_cancelled(rig: Rig) -> None:
    async def gone(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
        return None

    rig.engine.kinds[KIND] = Kind(gone)
    item = await rig.due(await rig.add_agent(1), START)
    assert (await rig.engine.sweep()).cancelled == 1
    assert await rig.statuses() == {item: "cancelled"}
    assert rig.sent() == []


async def test_after_sent_schedules_the_next_occurrence_in_the_same_transaction(rig: Rig) -> None:
    async def again(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> None:
        await schedule(session, agent_id=agent.id, kind=KIND, due_at=delivery.due_at + timedelta(days=1), now=now)

    rig.engine.kinds[KIND] = Kind(render, after_sent=again)
    await rig.due(await rig.add_agent(1), START)
    await rig.engine.sweep()
    async with rig.sessions() as session:
        pending = (await session.execute(select(Delivery.due_at).where(Delivery.status == "pending"))).scalars()
        assert list(pending) == [START + timedelta(days=1)]


async def test_two_engines_on_one_postgresql_never_send_twice(postgres_url: str, clock: ManualClock) -> None:
    """SQLite is the single-process path; processes that share work share PostgreSQL."""
    database = create_engine(postgres_url)
    async with database.begin() as connection:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    sessions = session_factory(database)
    sent: list[tuple[int, str]] = []

    class Recorder:
        async def send(self, chat_id: int, message: Outgoing) -> int:
            await asyncio.sleep(0)  # let the other engine run in between
            sent.append((chat_id, message.text))
            return len(sent)

    async with sessions() as session, session.begin():
        for user in range(1, 41):
            agent = await get_or_register(session, NewAgent(user, user, "A", "en", "UTC"), START)
            for minute in range(5):
                await schedule(
                    session, agent_id=agent.id, kind=KIND, due_at=START - timedelta(minutes=minute), now=START
                )
    engines = [Engine(sessions, clock, Recorder(), {KIND: Kind(render)}, EngineSettings(batch=37)) for _ in range(2)]

    async def drain(worker: Engine) -> None:
        for _ in range(50):
            await worker.sweep()

    await asyncio.gather(*(drain(worker) for worker in engines))
    for worker in engines:
        await worker.stop()
    texts = [text for _, text in sent]
    assert len(texts) == 200 and len(set(texts)) == 200
    async with sessions() as session:
        assert (await session.execute(select(func.count()).where(Delivery.status != "sent"))).scalar_one() == 0
    await database.dispose()


async def test_bulk_follow_ups_become_the_same_deliveries(rig: Rig) -> None:
    from bot.followups import PlannedFollowUp, add_follow_ups
    from bot.models import Client, FollowUp

    agent = await rig.add_agent(1)
    async with rig.sessions() as session, session.begin():
        client = Client(agent_id=agent, name="C", stage="new", archived=False, created_at=START, updated_at=START)
        session.add(client)
        await session.flush()
        planned = [PlannedFollowUp(agent, client.id, START + timedelta(minutes=i), f"n{i}") for i in range(50)]
        ids = await add_follow_ups(session, planned, START)
    async with rig.sessions() as session:
        follow_ups = (await session.execute(select(FollowUp).order_by(FollowUp.id))).scalars().all()
        deliveries = (await session.execute(select(Delivery).order_by(Delivery.id))).scalars().all()
    assert [f.id for f in follow_ups] == ids and [f.note for f in follow_ups] == [f"n{i}" for i in range(50)]
    assert [(d.subject_id, d.due_at, d.status, d.kind, d.attempts, d.late) for d in deliveries] == [
        (f.id, f.due_at, "pending", "followup", 0, False) for f in follow_ups
    ]


async def test_bulk_deliveries_are_claimed_and_sent_like_any_other(rig: Rig) -> None:
    from bot.scheduler import Planned, schedule_many

    agents = [await rig.add_agent(user) for user in range(1, 4)]
    async with rig.sessions() as session, session.begin():  # the bulk write is the session's first statement
        await schedule_many(
            session, [Planned(a, KIND, START + timedelta(minutes=i), None) for i, a in enumerate(agents)], START
        )
    single = await rig.due(agents[0], START + timedelta(minutes=9))
    bulk_ids = sorted(set(await rig.statuses()) - {single})
    assert len(bulk_ids) == 3 and single > max(bulk_ids)
    rig.clock.advance(timedelta(minutes=2))
    assert (await rig.engine.sweep()).sent == 3
    assert sorted(rig.sent()) == sorted(f"delivery {i}" for i in bulk_ids)
    assert (await rig.statuses())[single] == "pending"


async def test_a_rolled_back_bulk_write_leaves_nothing(rig: Rig) -> None:
    from bot.followups import PlannedFollowUp, add_follow_ups
    from bot.models import Client, FollowUp
    from bot.scheduler import Planned, schedule_many

    agent = await rig.add_agent(1)
    async with rig.sessions() as session, session.begin():
        client = Client(agent_id=agent, name="C", stage="new", archived=False, created_at=START, updated_at=START)
        session.add(client)
    with pytest.raises(RuntimeError):
        async with rig.sessions() as session, session.begin():
            await add_follow_ups(session, [PlannedFollowUp(agent, client.id, START)] * 20, START)
            raise RuntimeError("the import failed half-way")
    with pytest.raises(RuntimeError):
        async with rig.sessions() as session, session.begin():  # the bulk write as the first statement
            await schedule_many(session, [Planned(agent, KIND, START, None)] * 5, START)
            raise RuntimeError("the import failed half-way")
    async with rig.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(FollowUp))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(Delivery))).scalar_one() == 0
    async with rig.sessions() as session, session.begin():  # ids are still handed out correctly afterwards
        ids = await add_follow_ups(session, [PlannedFollowUp(agent, client.id, START)] * 3, START)
        session.add(FollowUp(agent_id=agent, client_id=client.id, due_at=START, created_at=START, updated_at=START))
        await session.flush()
    async with rig.sessions() as session:
        stored = (await session.execute(select(FollowUp.id).order_by(FollowUp.id))).scalars().all()
    assert len(set(stored)) == 4 and stored[:3] == ids


async def test_a_bug_in_one_delivery_does_not_stop_the_others(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    broken_id = await rig.due(await rig.add_agent(1), START)
    fine_id = await rig.due(await rig.add_agent(2), START)

    async def fragile(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing | None:
        if delivery.id == broken_id:
            raise ValueError("a bug while rendering")
        return await render(session, delivery, agent, now)

    rig.engine.kinds[KIND] = Kind(fragile)
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        report = await rig.engine.sweep()
    assert (report.sent, report.retried) == (1, 1)
    assert rig.sent() == [f"delivery {fine_id}"]
    broken = await rig.delivery(broken_id)
    assert (broken.status, broken.lease_until) == ("pending", START + timedelta(seconds=10))
    assert "a bug while rendering" in (broken.last_error or "") and "unexpected error" in caplog.text


async def test_cancelling_a_subjects_nudge_looks_it_up_by_index(engine: AsyncEngine, clock: ManualClock) -> None:
    """✅ Done, snooze and reschedule cancel a follow-up's nudge by (kind, subject): without an index of its own
    that statement scanned every pending delivery (~180 ms at 1M pending on SQLite, under the write lock)."""
    from sqlalchemy import event

    from bot.scheduler import Planned, cancel, schedule_many

    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        agent = (await get_or_register(session, NewAgent(1, 1, "A", "en", "Asia/Shanghai"), START)).id
        planned = [Planned(agent, "followup", START + timedelta(minutes=i % 500), i) for i in range(1, 3001)]
        await schedule_many(session, planned, START)
    async with engine.connect() as connection:
        await connection.exec_driver_sql("ANALYZE")
    statements: list[tuple[str, Sequence[Any]]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: Sequence[Any], *_args: object) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    async with sessions() as session, session.begin():
        assert await cancel(session, "followup", 1234) == 1
    event.remove(engine.sync_engine, "before_cursor_execute", record)
    [(statement, parameters)] = [(s, p) for s, p in statements if s.lstrip().upper().startswith("UPDATE")]
    async with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            await connection.exec_driver_sql("SET enable_seqscan = off")  # a 3,000-row table would be scanned
            plan = (await connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)).scalars().all()
        else:
            plan = [row[-1] for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("ix_deliveries_kind_subject" in str(line) for line in plan), plan
    async with sessions() as session:
        cancelled = (await session.execute(select(Delivery.subject_id).where(Delivery.status == "cancelled"))).all()
    assert cancelled == [(1234,)]


async def test_bulk_rows_convert_shared_and_unhashable_values_like_the_orm(rig: Rig) -> None:
    """Bulk writes convert each distinct value once; a JSON column's dicts (unhashable) are converted each time."""
    from datetime import date

    from bot.bulk import insert_rows
    from bot.models import Reflection

    agent = await rig.add_agent(1)
    voices = [{"went_well": [f"file{i}"]} for i in range(3)]
    async with rig.sessions() as session, session.begin():
        await insert_rows(
            session,
            Reflection.__table__,  # type: ignore[arg-type]
            ["agent_id", "day", "status", "voice", "created_at", "updated_at"],
            [(agent, date(2026, 11, 20 + i), "done", voices[i], START, START) for i in range(3)],
        )
    async with rig.sessions() as session:
        rows = (await session.execute(select(Reflection).order_by(Reflection.day))).scalars().all()
    assert [(r.day.day, r.voice, r.created_at, r.updated_at) for r in rows] == [
        (20 + i, voices[i], START, START) for i in range(3)
    ]


async def test_a_kind_waiting_once_is_added_once_as_a_fresh_row_and_says_so(rig: Rig) -> None:
    """`schedule_once` adds the one waiting delivery of its kind (True), refuses a second (False), and the row it
    adds is new: pending, not yet tried, not late, whatever `schedule` or the sweep write elsewhere."""
    agent_id = await rig.add_agent(3001)
    tip = DeliveryKind.TIP
    async with rig.sessions() as session, session.begin():
        await session.execute(delete(Delivery).where(Delivery.agent_id == agent_id, Delivery.kind == tip))
        added = await schedule_once(session, agent_id=agent_id, kind=tip, due_at=START + timedelta(hours=1), now=START)
        again = await schedule_once(session, agent_id=agent_id, kind=tip, due_at=START + timedelta(hours=2), now=START)
    assert (added, again) == (True, False)
    async with rig.sessions() as session:
        rows = (
            await session.scalars(select(Delivery).where(Delivery.agent_id == agent_id, Delivery.kind == tip))
        ).all()
    assert [(d.due_at, d.status, d.attempts, d.late, d.created_at) for d in rows] == [
        (START + timedelta(hours=1), DeliveryStatus.PENDING, 0, False, START)
    ]
