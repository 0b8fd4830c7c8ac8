"""The engine's claim tiers (bot.scheduler): nudges first, then the recurring prompts in shares, then the waves;
and a nudge falling due while a share of prompts is being sent goes out at once, not after the share.

The rule of issue 16 is measured in real time, at the pace one of three processes gets of Telegram's ~30
messages/s (10/s), through a send budget that serves first come first served: the worst case, since the
deployment's budget (runtime) would even let the nudge ahead of the prompts already waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.bulk import insert_rows_with_ids
from bot.clock import Clock, ManualClock, SystemClock
from bot.models import NUDGE_INDEX, NUDGE_KINDS, WAVE_KINDS, Agent, Delivery
from bot.scheduler import Budget, Claimed, Engine, EngineSettings, Kind, Outgoing, Planned, schedule_many
from bot.send_budget import SendBudget
from bot.statuses import DeliveryKind, SendPriority
from tests.conftest import START

K = DeliveryKind
TIER = {K.FOLLOWUP: 0, K.REFLECT_LATER: 0, K.TIP: 1, K.REFLECTION: 1, K.TEAM_DIGEST: 1, K.DIGEST: 2, K.BROADCAST: 2}
AGENT_COLUMNS = [
    *("telegram_user_id", "chat_id", "display_name", "language", "timezone", "reflection_time", "work_days"),
    *("digest_weekday", "digest_time", "followup_time", "active", "created_at", "updated_at"),
]


class Phone:
    """What reached the agents' phones: (chat, text, instant by the engine's clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.received: list[tuple[int, str, datetime]] = []
        self.arrived: dict[str, asyncio.Event] = {}

    async def send(self, chat_id: int, message: Outgoing) -> int:
        await asyncio.sleep(0)
        self.received.append((chat_id, message.text, self.clock.now()))
        if (waiting := self.arrived.get(message.text)) is not None:
            waiting.set()
        return len(self.received)

    def texts(self) -> list[str]:
        return [text for _, text, _ in self.received]


class PacedPhone(Phone):
    """Telegram at 29 messages/s in virtual time: each send moves the clock on by 1/29 s."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self.manual = clock

    async def send(self, chat_id: int, message: Outgoing) -> int:
        self.manual.advance(timedelta(seconds=1 / 29))
        return await super().send(chat_id, message)


class FirstComeBudget:
    """One process's share of the deployment's budget, `rate` messages/s in real time, in the order asked: no
    priorities at all."""

    def __init__(self, rate: float) -> None:
        self.interval, self.next_slot = 1 / rate, 0.0

    async def acquire(self, chat_id: int, priority: SendPriority) -> None:
        now = asyncio.get_running_loop().time()
        slot = max(now, self.next_slot)
        self.next_slot = slot + self.interval
        await asyncio.sleep(slot - now)


async def render(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> Outgoing:
    return Outgoing(f"{delivery.kind} {agent.id}")


KINDS: dict[str, Kind] = {str(kind): Kind(render) for kind in TIER}


def start_process(processes: list[Engine], engine: Engine) -> Engine:
    processes.append(engine)
    return engine


async def add_agents(sessions: async_sessionmaker[AsyncSession], count: int, at: datetime) -> list[int]:
    table = Agent.__table__
    assert isinstance(table, Table)
    settings = (time(21), "", 7, time(20), time(10), True)
    async with sessions() as session, session.begin():
        first = (await session.execute(select(func.coalesce(func.max(Agent.telegram_user_id), 0)))).scalar_one()
        users = range(first + 1, first + count + 1)
        rows = [(n, n, f"A{n}", "en", "Asia/Shanghai", *settings, at, at) for n in users]
        return await insert_rows_with_ids(session, table, AGENT_COLUMNS, rows)


async def add_due(sessions: async_sessionmaker[AsyncSession], planned: Sequence[Planned], at: datetime) -> None:
    async with sessions() as session, session.begin():
        await schedule_many(session, planned, at)


def claims_recorded(engine: Engine) -> list[tuple[str, list[Claimed]]]:
    """Every claim the engine makes from now on, as it returned it: ("claim", …) for a whole claim, ("nudges", …)
    for the nudges' alone (a sweep's claim every second while a share is being sent)."""
    seen: list[tuple[str, list[Claimed]]] = []
    claim, claim_nudges = engine.claim, engine.claim_nudges

    async def recorded_claim() -> list[Claimed]:
        seen.append(("claim", await claim()))
        return seen[-1][1]

    async def recorded_nudges() -> list[Claimed]:
        seen.append(("nudges", await claim_nudges()))
        return seen[-1][1]

    engine.claim, engine.claim_nudges = recorded_claim, recorded_nudges  # type: ignore[method-assign]
    return seen


async def plan_of(engine: AsyncEngine, statement: str, parameters: Any) -> str:
    explain = "EXPLAIN QUERY PLAN" if engine.dialect.name == "sqlite" else "EXPLAIN"
    async with engine.connect() as connection:
        rows = (await connection.exec_driver_sql(f"{explain} {statement}", parameters)).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("budget", ["first come", "the send budget"])
async def test_a_nudge_due_during_a_wave_of_10k_prompts_goes_out_within_5_s_at_10_messages_a_second(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, processes: list[Engine], budget: str
) -> None:
    """10,000 agents' reflection prompts are due; a follow-up falls due 1.5 s into the first share (90 prompts,
    9 s at 10/s). It is claimed within a second of its time and waits only for the few prompts already at the
    budget: out before that share ends, well within 5 s, by a claim of the nudges alone through their index.
    Through a budget that serves first come, and through the bot's own (bot.send_budget, this process alone at
    10/s), which lets the nudge ahead of the prompts waiting."""
    clock = SystemClock()
    now = clock.now()
    *wave, nudged = await add_agents(sessions, 10_001, now)
    await add_due(sessions, [Planned(agent, K.REFLECTION, now - timedelta(seconds=1)) for agent in wave], now)
    async with engine.begin() as connection:  # the planner knows the prompts are there, as autovacuum would tell it
        await connection.execute(text("ANALYZE deliveries"))
    await engine.dispose()  # SQLite's connections plan with the statistics from their next start
    phone = Phone(clock)
    paced: Budget = FirstComeBudget(10) if budget == "first come" else SendBudget(10)
    worker = start_process(processes, Engine(sessions, clock, phone, KINDS, budget=paced))
    await worker.start()
    nudge_text = f"{K.FOLLOWUP} {nudged}"
    phone.arrived[nudge_text] = asyncio.Event()
    claims = claims_recorded(worker)
    statements: list[tuple[str, Any]] = []

    def capture(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        if "'reflect_later'" in statement and statement.lstrip().upper().startswith("UPDATE"):
            statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    sweeping = asyncio.create_task(worker.sweep())
    due_at = clock.now() + timedelta(seconds=1.5)
    await add_due(sessions, [Planned(nudged, K.FOLLOWUP, due_at)], now)
    try:
        await asyncio.wait_for(phone.arrived[nudge_text].wait(), 8)
    finally:
        sweeping.cancel()
        await asyncio.gather(sweeping, return_exceptions=True)
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    texts = phone.texts()
    [(_, _, sent_at)] = [entry for entry in phone.received if entry[1] == nudge_text]
    assert 0 <= (sent_at - due_at).total_seconds() <= 5, sent_at - due_at
    prompts_before = texts.index(nudge_text)
    assert prompts_before < worker.settings.recurring_batch  # the share in progress had not ended
    [whole] = [claim for source, claim in claims if source == "claim"]  # one share claimed, no more
    assert {c.kind for c in whole} == {K.REFLECTION} and len(whole) == worker.settings.recurring_batch
    assert [c.kind for source, claim in claims if source == "nudges" for c in claim] == [K.FOLLOWUP]
    # Found through the nudges' own index, not by reading through the 9,900 prompts still due before it.
    assert NUDGE_INDEX in await plan_of(engine, *statements[-1])


async def test_nudges_go_first_then_prompts_then_digests_and_broadcasts(
    sessions: async_sessionmaker[AsyncSession], processes: list[Engine]
) -> None:
    """Everything due at once, the waves earliest: the first claim takes the nudges, then a share of prompts,
    one row per agent (an agent with a nudge gets no prompt in that claim); one sweep sends them in tier order."""
    clock = ManualClock(START)
    agents = await add_agents(sessions, 260, START)
    nudges = [Planned(a, K.FOLLOWUP if n % 2 else K.REFLECT_LATER, START) for n, a in enumerate(agents[:20])]
    prompts = [
        Planned(a, (K.TIP, K.REFLECTION, K.TEAM_DIGEST)[n % 3], START - timedelta(minutes=5))
        for n, a in enumerate(agents[20:130])
    ]
    waves = [Planned(a, WAVE_KINDS[n % 2], START - timedelta(minutes=10)) for n, a in enumerate(agents[130:])]
    both = [Planned(a, K.TIP, START - timedelta(minutes=6)) for a in agents[:5]]  # a nudge and a prompt each
    await add_due(sessions, nudges + prompts + waves + both, START)
    settings = EngineSettings(recurring_batch=40, wave_batch=40)
    phone = Phone(clock)
    worker = start_process(processes, Engine(sessions, clock, phone, KINDS, settings))

    first = await worker.claim()
    tiers = [TIER[K(c.kind)] for c in first]
    assert tiers == [0] * 20 + [1] * 40 and worker.backlog  # the share is full: no room for the waves yet
    assert len({c.agent_id for c in first}) == len(first)
    assert not {c.agent_id for c in first if c.kind == K.TIP} & set(agents[:5])  # they have their nudge
    assert {c.due_at for c in first[20:]} == {START - timedelta(minutes=5)}  # not the busy agents' older tips

    async with sessions() as session, session.begin():
        await session.execute(update(Delivery).values(status="pending", lease_until=None, attempts=0))
    report = await worker.sweep()
    assert report.sent == report.claimed == len(nudges + prompts + waves + both) and not worker.backlog
    sent = [TIER[K(text.split()[0])] for text in phone.texts()]
    assert sent == sorted(sent), sent  # every nudge, then every prompt, then the digests and broadcasts
    assert len(set(phone.texts())) == len(phone.texts())

    # An agent with a prompt and an older digest due: the prompt now, the digest in the next claim.
    [agent] = await add_agents(sessions, 1, START)
    await add_due(sessions, [Planned(agent, K.TIP, START), Planned(agent, K.DIGEST, START - timedelta(hours=1))], START)
    assert [c.kind for c in await worker.claim()] == [K.TIP]
    assert [c.kind for c in await worker.claim()] == [K.DIGEST]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # several processes share PostgreSQL
async def test_two_processes_claiming_in_tiers_never_double_or_lose_a_row(
    sessions: async_sessionmaker[AsyncSession], processes: list[Engine]
) -> None:
    """Two processes sweep one PostgreSQL at once while prompts and a wave are sent and nudges keep falling due
    (claimed every second of the clock, mid-share): every row is sent once, by one claim, one per agent a claim."""
    begin = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    clock = ManualClock(begin)
    agents = await add_agents(sessions, 400, begin)
    planned = [
        *(Planned(a, (K.TIP, K.REFLECTION)[n % 2], begin - timedelta(minutes=1)) for n, a in enumerate(agents[:300])),
        *(Planned(a, WAVE_KINDS[n % 2], begin - timedelta(minutes=2)) for n, a in enumerate(agents[100:400])),
        *(Planned(a, K.TEAM_DIGEST, begin) for a in agents[::7]),
        # Nudges falling due over the first 20 s, some for agents with a prompt or a digest due too.
        *(Planned(a, NUDGE_KINDS[n % 2], begin + timedelta(seconds=n / 4)) for n, a in enumerate(agents[::5])),
    ]
    await add_due(sessions, planned, begin)
    phone = PacedPhone(clock)
    workers = [
        start_process(
            processes,
            Engine(sessions, clock, phone, KINDS, EngineSettings(batch=50, recurring_batch=30, wave_batch=30)),
        )
        for _ in "ab"
    ]
    claims = [claims_recorded(worker) for worker in workers]

    async def drain(worker: Engine) -> None:
        for _ in range(100):  # the clock moves 100 s at most: no lease (5 min) runs out
            if not (await worker.sweep()).claimed:
                if len(phone.received) >= len(planned):
                    return
                clock.advance(timedelta(seconds=1))

    await asyncio.wait_for(asyncio.gather(*(drain(worker) for worker in workers)), 60)
    texts = phone.texts()
    assert len(texts) == len(set(texts)) == len(planned)
    async with sessions() as session:
        rows = (await session.execute(select(Delivery.status, Delivery.attempts))).all()
    assert {(status, attempts) for status, attempts in rows} == {("sent", 1)}  # each claimed once, sent once
    every = [claim for per_worker in claims for _, claim in per_worker if claim]
    assert all(len({c.agent_id for c in claim}) == len(claim) for claim in every)
    assert sum(len(claim) for claim in every) == len(planned)
    for per_worker in claims:  # both took part, and each claimed nudges mid-share
        assert any(source == "claim" and claim for source, claim in per_worker)
        assert any(source == "nudges" and claim for source, claim in per_worker)
