"""`agentcoach stats` from its definitions: seeded agents and deliveries in every state, the numbers an operator
should read off them at an injected instant, on SQLite and PostgreSQL, and the command's two outputs.

Definitions (bot/stats.py): active = onboarded and not blocked; due = pending and its time has come (`<= now`);
overdue = pending more than 2 min after its time; late = sent more than 2 min after its time (the engine marks it);
sent / failed in the last hour by when that happened (`sent_at`; a failed row's lease end).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stats import seed as seed_month
from bot.budget_report import write_report
from bot.db import create_engine, session_factory, upgrade
from bot.models import Agent, Delivery
from bot.stats import KindHour, gather_stats
from bot.statuses import DeliveryKind, DeliveryStatus
from tests.command import run_agentcoach

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
S, M, H = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)
P, C, X, SENT, F, CANCELLED, HELD = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.CANCELLED,
    DeliveryStatus.HELD,
)
FOLLOWUP, TIP, REFLECTION, DIGEST, BROADCAST = (
    DeliveryKind.FOLLOWUP,
    DeliveryKind.TIP,
    DeliveryKind.REFLECTION,
    DeliveryKind.DIGEST,
    DeliveryKind.BROADCAST,
)


@dataclass(frozen=True)
class Row:
    """A delivery to seed; times relative to `now`."""

    agent: str
    kind: str
    status: str
    due: timedelta
    lease: timedelta | None = None
    sent: timedelta | None = None
    late: bool = False


# Agent "a" is onboarded and reachable, "b" blocked the bot, "c" is still answering onboarding questions.
ROWS = [
    Row("a", FOLLOWUP, P, due=-10 * M),  # due, overdue, the oldest due
    Row("a", TIP, P, due=0 * S),  # due exactly now: due, not overdue
    Row("a", REFLECTION, P, due=-1 * M, lease=20 * S),  # due, waiting out a retry's delay, not overdue
    Row("a", FOLLOWUP, P, due=1 * H),  # scheduled later
    Row("a", DIGEST, C, due=-5 * S, lease=5 * M),  # in flight
    Row("a", FOLLOWUP, X, due=-2 * S, lease=5 * M),  # in flight
    Row("a", FOLLOWUP, SENT, due=-11 * M, sent=-10 * M),  # sent in the hour, on time
    Row("a", FOLLOWUP, SENT, due=-30 * M, sent=-20 * M, late=True),  # sent in the hour, late
    Row("a", DIGEST, SENT, due=-59 * M, sent=-59 * M),  # sent in the hour
    Row("a", TIP, SENT, due=-2 * H, sent=-2 * H),  # sent before the hour
    Row("a", FOLLOWUP, F, due=-8 * M, lease=-5 * M),  # failed in the hour
    Row("a", DIGEST, F, due=-4 * H, lease=-3 * H),  # failed before it
    Row("a", FOLLOWUP, CANCELLED, due=-3 * M),  # counted nowhere
    Row("b", FOLLOWUP, HELD, due=-1 * H),  # held
    Row("b", TIP, HELD, due=2 * H),  # held
    Row("b", BROADCAST, F, due=-40 * M, lease=-35 * M),  # failed in the hour
]


async def seed(engine: AsyncEngine, now: datetime, rows: list[Row] = ROWS) -> None:
    async with session_factory(engine)() as session, session.begin():
        agents = {}
        for n, (name, reachable, step) in enumerate([("a", True, None), ("b", False, None), ("c", True, "timezone")]):
            agents[name] = Agent(
                telegram_user_id=4000 + n,
                chat_id=4000 + n,
                display_name=name,
                language="en",
                timezone="Asia/Shanghai",
                reflection_time=time(21, 30),
                work_days="12345",
                digest_weekday=7,
                digest_time=time(20),
                setup_step=step,
                active=reachable,
                created_at=now - 40 * 24 * H,
                updated_at=now - 40 * 24 * H,
            )
        session.add_all(agents.values())
        await session.flush()
        session.add_all(
            Delivery(
                agent_id=agents[row.agent].id,
                kind=row.kind,
                status=row.status,
                due_at=now + row.due,
                lease_until=None if row.lease is None else now + row.lease,
                sent_at=None if row.sent is None else now + row.sent,
                late=row.late,
                created_at=now - 2 * 24 * H,
            )
            for row in rows
        )


async def test_the_numbers_follow_the_definitions(engine: AsyncEngine) -> None:
    await seed(engine, NOW)
    async with session_factory(engine)() as session:
        stats = await gather_stats(session, NOW)
    assert (stats.agents_active, stats.agents_onboarding, stats.agents_blocked, stats.agents_inactive) == (1, 1, 1, 2)
    assert (stats.due, stats.due_retrying, stats.overdue) == (3, 1, 1)
    assert stats.oldest_due_at == NOW - 10 * M and stats.oldest_due_age == 10 * M
    assert (stats.claimed, stats.sending, stats.in_flight, stats.held, stats.scheduled) == (1, 1, 2, 2, 1)
    assert stats.last_hour == {
        BROADCAST: KindHour(failed=1),
        DIGEST: KindHour(sent=1),
        FOLLOWUP: KindHour(sent=2, late=1, failed=1),
    }
    assert stats.hour_total() == KindHour(sent=3, late=1, failed=2)


async def test_later_the_same_rows_read_differently(engine: AsyncEngine) -> None:
    """Half an hour on: what was due is overdue, the scheduled one is due, an hour's window has moved."""
    await seed(engine, NOW)
    async with session_factory(engine)() as session:
        stats = await gather_stats(session, NOW + 30 * M)
    assert (stats.due, stats.due_retrying, stats.overdue, stats.scheduled) == (3, 0, 3, 1)
    assert stats.oldest_due_age == 40 * M
    assert stats.hour_total() == KindHour(sent=2, late=1, failed=1)  # the digest and the broadcast left the hour


# The hour's edges, by the time each thing happened and not by when it was due.
EDGES = [
    Row("a", TIP, SENT, due=-60 * M, sent=-60 * M),  # sent exactly an hour ago: in it
    Row("a", TIP, SENT, due=-61 * M, sent=-61 * M),  # sent 61 min ago: not
    Row("a", FOLLOWUP, SENT, due=-3 * H, sent=-30 * M, late=True),  # due long before the hour, sent in it, late
    Row("a", REFLECTION, F, due=-2 * 24 * H, lease=-59 * M),  # due two days ago, given up 59 min ago: in it
    Row("a", REFLECTION, F, due=-50 * M, lease=-61 * M),  # given up 61 min ago: not
    Row("a", DIGEST, P, due=-10 * M, lease=-30 * M),  # a retry's time in the hour: pending, neither
    Row("a", DIGEST, CANCELLED, due=-20 * M),  # neither
]


async def test_the_hour_counts_what_happened_in_it(engine: AsyncEngine) -> None:
    await seed(engine, NOW, EDGES)
    async with session_factory(engine)() as session:
        stats = await gather_stats(session, NOW)
    assert stats.last_hour == {
        FOLLOWUP: KindHour(sent=1, late=1),
        REFLECTION: KindHour(failed=1),
        TIP: KindHour(sent=1),
    }


async def test_on_sqlite_every_read_of_deliveries_is_a_range(tmp_path: Path) -> None:
    """No statement reads the deliveries whole, nor skips through an index whose first column it does not fix:
    each is a search of a (status, …) index from a status. A month of a bot's rows (bench.stats, scaled down; the
    planner goes by the ANALYZE statistics, which are its proportions). SQLite only: PostgreSQL's plans follow the
    table's size (bench.stats shows them at 100k and 1M rows)."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/month.db")
    await upgrade(engine)
    await seed_month(engine, 10_000, NOW)
    statements: list[tuple[str, object]] = []

    def keep(conn: object, cursor: object, statement: str, parameters: object, *args: object) -> None:
        statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    async with session_factory(engine)() as session:
        await gather_stats(session, NOW)
    event.remove(engine.sync_engine, "before_cursor_execute", keep)
    plans = {}
    async with engine.connect() as connection:
        for sql, parameters in statements:
            if "FROM deliveries" in sql:
                rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)  # type: ignore[arg-type]
                plans[" ".join(sql.split())] = [str(row[-1]) for row in rows if "deliveries" in str(row[-1])]
    await engine.dispose()
    assert len(plans) == 3 and all(plans.values())
    for sql, lines in plans.items():
        for line in lines:
            ranged = line.startswith("SEARCH deliveries USING") and "(status=?" in line
            assert ranged and "ANY(" not in line, (sql, line)


async def test_an_empty_database(engine: AsyncEngine) -> None:
    async with session_factory(engine)() as session:
        stats = await gather_stats(session, NOW)
    assert (stats.agents_active, stats.agents_inactive, stats.due, stats.in_flight, stats.held) == (0, 0, 0, 0, 0)
    assert stats.oldest_due_at is None and stats.oldest_due_age is None and stats.last_hour == {}


async def test_the_command_prints_one_screen_and_json(
    engine: AsyncEngine, database_url: str, tmp_path: Path, data_key: str | None
) -> None:
    now = datetime.now(UTC)  # the command reads the real clock; every row is minutes away from any edge
    await seed(engine, now)
    await engine.dispose()  # SQLite: the command is another process

    keyed = data_key or ""  # TEST_DATA_KEY=1: the command needs the key too
    text = run_agentcoach(tmp_path, "stats", DATABASE_URL=database_url, DATA_KEY=keyed)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("agentcoach stats at ") and lines[0].endswith(" UTC")
    assert any("active: finished onboarding and has not blocked the bot" in line for line in lines)
    shown = {line.split()[0]: line.split()[1] for line in lines if line.startswith("  ") and ":" not in line}
    assert shown["active"] == "1" and shown["inactive"] == "2" and shown["due"] == "3" and shown["overdue"] == "1"
    assert shown["held"] == "2" and shown["sent"] == "3" and shown["failed"] == "2"
    assert "  in flight" in text.stdout and "(1 claimed, 1 sending)" in text.stdout
    assert "  followup" in text.stdout.split("Last hour by kind")[1]
    summary = lines[: lines.index(next(line for line in lines if line.startswith("Last hour by kind")))]
    numbers = [line for line in summary if line.startswith("  ") and line.split()[-1].isdigit()]
    assert len({len(line) for line in numbers}) == 1, "numbers right-aligned in a column"

    machine = run_agentcoach(tmp_path, "stats", "--json", DATABASE_URL=database_url, DATA_KEY=keyed)
    assert machine.returncode == 0, machine.stderr
    data = json.loads(machine.stdout)
    assert data["agents"] == {"active": 1, "inactive": 2, "onboarding": 1, "blocked": 1}
    assert {k: data["deliveries"][k] for k in ("due", "overdue", "in_flight", "held", "scheduled")} == {
        "due": 3,
        "overdue": 1,
        "in_flight": 2,
        "held": 2,
        "scheduled": 1,
    }
    assert 10 * 60 <= data["deliveries"]["oldest_due_age_seconds"] < 11 * 60
    assert data["last_hour"]["followup"] == {"sent": 2, "late": 1, "failed": 1}


async def test_the_command_shows_the_send_budget_of_the_processes_alive(
    engine: AsyncEngine, database_url: str, tmp_path: Path, data_key: str | None
) -> None:
    keyed = data_key or ""
    idle = run_agentcoach(tmp_path, "stats", DATABASE_URL=database_url, DATA_KEY=keyed)
    assert idle.returncode == 0, idle.stderr
    assert "Send budget (30 messages/s for the deployment, 1/s per chat)" in idle.stdout
    assert "no process is sending" in idle.stdout

    for key, recurring in ((11, 12.0), (12, 13.5)):  # two processes, reporting as runtime.send_budget does
        report = {
            "store": "postgresql" if database_url.startswith("postgresql") else "memory",
            "rate": 30,
            "sends_per_s": {"reply": 0.5, "nudge": 1.0, "recurring": recurring, "bulk": 0.0},
            "waiting": {"reply": 0, "nudge": 0, "recurring": 120, "bulk": 3000},
            "mean_wait_s": {"recurring": 2.5},
            "pauses": 1,
        }
        await write_report(engine, key, report)
    await engine.dispose()

    text = run_agentcoach(tmp_path, "stats", DATABASE_URL=database_url, DATA_KEY=keyed)
    assert text.returncode == 0, text.stderr
    budget = text.stdout.split("Send budget")[1].splitlines()
    words = [line.split() for line in budget if line.startswith("  ")]
    assert words[0][:2] == ["processes", "2"] and words[1][:2] == ["sends/s", "28.5"]
    assert "95% of the budget" in budget[2]
    assert ["waiting", "now", "6240"] in words and ["RetryAfter", "pauses", "2"] in words
    assert ["by", "priority", "sends/s", "waiting", "mean", "wait"] in words
    assert ["reply", "1", "0", "-"] in words and ["nudge", "2", "0", "-"] in words
    assert ["recurring", "25.5", "240", "2.50", "s"] in words and ["bulk", "0", "6000", "-"] in words

    machine = run_agentcoach(tmp_path, "stats", "--json", DATABASE_URL=database_url, DATA_KEY=keyed)
    data = json.loads(machine.stdout)["send_budget"]
    assert data["processes"] == 2 and data["rate"] == 30
    assert data["sends_per_s"] == {"reply": 1.0, "nudge": 2.0, "recurring": 25.5, "bulk": 0.0}
    assert data["waiting"]["bulk"] == 6000 and data["retry_after_pauses"] == 2
