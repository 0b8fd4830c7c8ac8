"""Scenario 2: time to schedule 100k follow-ups (goal ≥ 50× faster than APScheduler's SQLAlchemyJobStore).

Ours, in this process, on the seeded database (so every insert also maintains indexes over the existing rows):
- bulk: `bot.followups.add_follow_ups` in batches of `batch` follow-ups, one transaction per batch; each
  follow-up is two rows (the follow-up and its pending delivery);
- one at a time (the handler path): `bot.followups.add_follow_up`, one transaction each, as a handler adds one;
  measured on a smaller count and extrapolated to the full count (labelled as such), beside its own floor: the
  bare synchronous driver sending the same two INSERTs in one transaction per follow-up.
The 50× goal is judged on the bulk path, whose one commit per 10,000 is set against the peer's one per add; the
handler path, one commit per follow-up like the peer, is reported beside it with its ratio to the peer.
The peer: APScheduler 3.11 with a SQLAlchemyJobStore on the same database through a synchronous engine
(pysqlite / psycopg), `add_job(remind_follow_up, trigger="date", run_date=…, id=…, replace_existing=True)`
with a module-level callable, measured on a smaller count and stated per add. The goal is judged against the
scheduler started paused, so each add is the store's own work (pickle + INSERT + commit) and no wake-up
follows it: the cheapest case for the peer. It is also timed running, yielding to the event loop after each
add as a bot does between updates, so each add's wake-up (two more queries on the store) runs too.
What the scenario added is removed afterwards.

The floor: the same two rows per follow-up written by the bare synchronous driver (sqlite3 executemany,
psycopg COPY) with every value pre-converted, foreign keys checked as the bot has them checked. No design with
two rows per follow-up can beat it on this machine, which tells whether the goal is reachable with this schema
at all. A second floor writes the follow-up row alone, with the indexes it has today; a third adds the index a
one-row design needs to claim due follow-ups from that table (status, due time), which is the bound for that
design: the follow-up carrying its own delivery state instead of a generic delivery row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.database import Database, max_ids, remove_after, utcnow
from bench.report import Goal, Result
from bot.db import sqlite_pragmas
from bot.followups import KIND, OPEN, PlannedFollowUp, add_follow_up, add_follow_ups
from bot.models import Agent, Client, Delivery, FollowUp
from bot.scheduler import PENDING

AddMany = Callable[[AsyncSession, Sequence[PlannedFollowUp], datetime], Awaitable[list[int]]]
GOAL_RATIO = 50.0
AHEAD = timedelta(days=40)


def remind_follow_up(agent_id: int, follow_up_id: int) -> None:
    """The peer's job: what would send the nudge (never runs here: every job is in the future)."""


async def ours_bulk(
    sessions: async_sessionmaker[AsyncSession], agents: int, count: int, batch: int, add: AddMany = add_follow_ups
) -> dict[str, Any]:
    now = utcnow()
    started = time.perf_counter()
    for first in range(0, count, batch):
        planned = [
            PlannedFollowUp(i % agents + 1, i % agents + 1, now + AHEAD + timedelta(seconds=i))
            for i in range(first, min(first + batch, count))
        ]
        async with sessions() as session, session.begin():
            await add(session, planned, now)
    seconds = time.perf_counter() - started
    return {"count": count, "batch": batch, "seconds": round(seconds, 3), "us_per_follow_up": seconds / count * 1e6}


def floor_bare_driver(
    db: Database,
    agents: int,
    count: int,
    batch: int,
    first_id: int,
    *,
    deliveries_too: bool = True,
    claim_index: bool = False,
) -> dict[str, Any]:
    """The same two rows per follow-up written by the bare synchronous driver, values pre-converted: no asyncio,
    no SQLAlchemy, no type conversion. Not a way to ship; the lower bound any two-row design can reach here.
    Without `deliveries_too`, the follow-up row alone; with `claim_index` too, that row with the index a
    one-row design would claim from (created for the measurement, dropped after it): the bound for that design.
    The connection is set up as the bot's (`bot.db.sqlite_pragmas`): SQLite checks foreign keys only when asked."""
    now = utcnow()
    stamp = (lambda d: d.replace(tzinfo=None).isoformat(" ", "microseconds")) if db.backend == "sqlite" else None
    sync = create_sync_engine(db.sync_url)
    if db.backend == "sqlite":
        event.listen(sync, "connect", sqlite_pragmas)  # the bot's connection settings: foreign keys checked
    try:
        raw = sync.raw_connection()
        try:
            if claim_index:
                raw.cursor().execute(f"CREATE INDEX {CLAIM_INDEX} ON follow_ups (status, due_at)")
                raw.commit()
            started = time.perf_counter()
            for first in range(0, count, batch):
                numbers = range(first, min(first + batch, count))
                created = stamp(now) if stamp else now
                dues = [now + AHEAD + timedelta(seconds=i) for i in numbers]
                if stamp:
                    dues = [stamp(d) for d in dues]
                follow_ups = [
                    (first_id + i + 1, i % agents + 1, i % agents + 1, due, None, OPEN, created, created)
                    for i, due in zip(numbers, dues, strict=True)
                ]
                deliveries = [
                    (i % agents + 1, KIND, first_id + i + 1, due, PENDING, 0, False, created)
                    for i, due in zip(numbers, dues, strict=True)
                ]
                cursor = raw.cursor()
                tables: list[tuple[str, str, list[tuple[Any, ...]]]] = [
                    ("follow_ups", FOLLOW_UP_COLUMNS, follow_ups),
                    ("deliveries", DELIVERY_COLUMNS, deliveries),
                ]
                for table, columns, rows in tables if deliveries_too else tables[:1]:
                    if db.backend == "sqlite":
                        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * 8)})", rows)
                    else:
                        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
                raw.commit()
            seconds = time.perf_counter() - started
            cursor = raw.cursor()
            if claim_index:
                cursor.execute(f"DROP INDEX {CLAIM_INDEX}")
            if db.backend == "postgresql":
                cursor.execute("SELECT setval(pg_get_serial_sequence('follow_ups', 'id'), max(id)) FROM follow_ups")
            raw.commit()
        finally:
            raw.close()
    finally:
        sync.dispose()
    return {"count": count, "batch": batch, "seconds": round(seconds, 3), "us_per_follow_up": seconds / count * 1e6}


def floor_bare_driver_single(db: Database, agents: int, count: int) -> dict[str, Any]:
    """The handler's path with nothing of ours around it: the same two INSERTs `add_follow_up` sends (the
    follow-up, its id back, then its delivery naming it; every column, as SQLAlchemy sends them), one transaction
    per follow-up, by the bare synchronous driver with values pre-converted and the bot's connection settings."""
    now = utcnow()
    stamp = (lambda d: d.replace(tzinfo=None).isoformat(" ", "microseconds")) if db.backend == "sqlite" else None
    sync = create_sync_engine(db.sync_url)
    if db.backend == "sqlite":
        event.listen(sync, "connect", sqlite_pragmas)
    marker = "?" if db.backend == "sqlite" else "%s"
    returning = "" if db.backend == "sqlite" else " RETURNING id"
    insert_follow_up = (
        f"INSERT INTO follow_ups ({SINGLE_FOLLOW_UP_COLUMNS}) VALUES ({', '.join([marker] * 9)}){returning}"
    )
    insert_delivery = (
        f"INSERT INTO deliveries ({SINGLE_DELIVERY_COLUMNS}) VALUES ({', '.join([marker] * 14)}){returning}"
    )
    try:
        raw = sync.raw_connection()
        try:
            created = stamp(now) if stamp else now
            dues = [now + AHEAD + timedelta(seconds=i) for i in range(count)]
            values = [stamp(d) for d in dues] if stamp else dues
            cursor = raw.cursor()
            started = time.perf_counter()
            for i, due in enumerate(values):
                agent = i % agents + 1
                cursor.execute(insert_follow_up, (agent, agent, due, "带看新房", OPEN, None, None, created, created))
                follow_up_id = cursor.lastrowid if db.backend == "sqlite" else cursor.fetchone()[0]
                cursor.execute(
                    insert_delivery,
                    (agent, KIND, follow_up_id, None, due, PENDING, None, None, 0, False, None, None, None, created),
                )
                if db.backend == "postgresql":
                    cursor.fetchone()
                raw.commit()
            seconds = time.perf_counter() - started
        finally:
            raw.close()
    finally:
        sync.dispose()
    return {"count": count, "seconds": round(seconds, 3), "us_per_follow_up": seconds / count * 1e6}


SINGLE_FOLLOW_UP_COLUMNS = "agent_id, client_id, due_at, note, status, outcome, done_at, created_at, updated_at"
SINGLE_DELIVERY_COLUMNS = (
    "agent_id, kind, subject_id, subject_key, due_at, status, lease_until, claimed_by, attempts, late, sent_at,"
    " message_id, last_error, created_at"
)
CLAIM_INDEX = "bench_ix_follow_ups_status_due"
FOLLOW_UP_COLUMNS = "id, agent_id, client_id, due_at, note, status, created_at, updated_at"
DELIVERY_COLUMNS = "agent_id, kind, subject_id, due_at, status, attempts, late, created_at"


async def ours_single(sessions: async_sessionmaker[AsyncSession], agents: int, count: int) -> dict[str, Any]:
    async with sessions() as session:
        pairs = (
            await session.execute(
                select(Agent, Client).join(Client, Client.agent_id == Agent.id).where(Agent.id <= min(count, agents))
            )
        ).all()
    now = utcnow()
    started = time.perf_counter()
    for i in range(count):
        agent, client = pairs[i % len(pairs)]
        async with sessions() as session, session.begin():
            await add_follow_up(session, agent, client, now + AHEAD + timedelta(seconds=i), "带看新房", now)
    seconds = time.perf_counter() - started
    return {"count": count, "seconds": round(seconds, 3), "us_per_follow_up": seconds / count * 1e6}


async def peer_job_store(db: Database, agents: int, count: int, *, running: bool = False) -> dict[str, Any]:
    """`count` add_job calls; paused (store work only) or `running` (each add's wake-up runs, as in a bot)."""
    store = SQLAlchemyJobStore(url=db.sync_url, tablename="apscheduler_jobs")
    scheduler = AsyncIOScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.start(paused=not running)  # needs the running loop
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        for i in range(count):
            scheduler.add_job(
                remind_follow_up,
                trigger="date",
                run_date=now + AHEAD + timedelta(seconds=i),
                id=f"followup-{i + 1}",
                replace_existing=True,
                args=[i % agents + 1, i + 1],
                misfire_grace_time=None,
            )
            if running:
                await asyncio.sleep(0)  # a bot adds each from its own handler: the wake-up runs in between
        seconds = time.perf_counter() - started
        stored = len(store.get_all_jobs())
    finally:
        scheduler.shutdown(wait=False)
        store.jobs_t.drop(store.engine)
        store.engine.dispose()
    return {"count": count, "stored": stored, "seconds": round(seconds, 3), "us_per_add": seconds / count * 1e6}


async def run(
    db: Database,
    sessions: async_sessionmaker[AsyncSession],
    agents: int,
    count: int,
    batch: int,
    single: int,
    peer_count: int,
) -> Result:
    follow_up_id, delivery_id = await max_ids(sessions)
    bulk = await ours_bulk(sessions, agents, count, batch)
    bulk["consistent"] = await consistent(sessions, follow_up_id, count)
    await remove_after(sessions, follow_up_id, delivery_id)
    floor = floor_bare_driver(db, agents, count, batch, follow_up_id)
    floor["consistent"] = await consistent(sessions, follow_up_id, count)
    await remove_after(sessions, follow_up_id, delivery_id)
    floor_one = floor_bare_driver(db, agents, count, batch, follow_up_id, deliveries_too=False)
    await remove_after(sessions, follow_up_id, delivery_id)
    floor_design = floor_bare_driver(db, agents, count, batch, follow_up_id, deliveries_too=False, claim_index=True)
    await remove_after(sessions, follow_up_id, delivery_id)
    one = await ours_single(sessions, agents, single)
    await remove_after(sessions, follow_up_id, delivery_id)
    one_floor = floor_bare_driver_single(db, agents, single)
    await remove_after(sessions, follow_up_id, delivery_id)
    peer = await peer_job_store(db, agents, peer_count)
    peer_running = await peer_job_store(db, agents, max(peer_count // 2, 1), running=True)
    peer_total = peer["us_per_add"] * count / 1e6
    single_total = one["us_per_follow_up"] * count / 1e6
    out = Result(
        "schedule",
        db.backend,
        f"Time to schedule {count:,} follow-ups",
        ["how", "measured on", "µs each", f"s for {count:,}", "peer / this"],
        data={
            "ours_bulk": bulk,
            "floor_bare_driver": floor,
            "floor_bare_driver_one_row": floor_one,
            "floor_bare_driver_one_row_design": floor_design,
            "ours_single": one,
            "floor_bare_driver_single": one_floor,
            "peer_job_store": peer,
            "peer_job_store_running": peer_running,
        },
    )
    ratio_bulk = peer["us_per_add"] / bulk["us_per_follow_up"]
    ratio_single = peer["us_per_add"] / one["us_per_follow_up"]
    out.rows.append(
        [
            f"bulk path, ours: add_follow_ups, {batch:,} per txn",
            count,
            bulk["us_per_follow_up"],
            bulk["seconds"],
            ratio_bulk,
        ]
    )
    floors = [
        ("floor: the same two rows by the bare sync driver (not a way to ship)", floor),
        ("floor: the follow-up row alone, bare driver (its indexes today)", floor_one),
        ("floor: one-row design, the follow-up row + a claim index (bound for it)", floor_design),
    ]
    for how, measured in floors:
        per = measured["us_per_follow_up"]
        out.rows.append([how, count, per, measured["seconds"], peer["us_per_add"] / per])
    out.rows.append(
        [
            "handler path, ours: add_follow_up, one transaction each",
            single,
            one["us_per_follow_up"],
            f"{single_total:.1f} (extrapolated)",
            ratio_single,
        ]
    )
    out.rows.append(
        [
            "handler path floor: the same two INSERTs, one transaction each, bare sync driver",
            single,
            one_floor["us_per_follow_up"],
            f"{one_floor['us_per_follow_up'] * count / 1e6:.1f} (extrapolated)",
            peer["us_per_add"] / one_floor["us_per_follow_up"],
        ]
    )
    out.rows.append(
        [
            "peer: SQLAlchemyJobStore add_job",
            peer_count,
            peer["us_per_add"],
            f"{peer_total:.1f} (extrapolated)",
            1.0,
        ]
    )
    out.rows.append(
        [
            "peer: add_job, scheduler running (as in a bot)",
            peer_running["count"],
            peer_running["us_per_add"],
            f"{peer_running['us_per_add'] * count / 1e6:.1f} (extrapolated)",
            peer["us_per_add"] / peer_running["us_per_add"],
        ]
    )
    out.goals.append(
        Goal(
            f"bulk path: schedule {count:,} follow-ups, {batch:,} per transaction, vs the peer's commit per add",
            f"{bulk['seconds']:.2f} s vs {peer_total:.0f} s (extrapolated) = {ratio_bulk:.1f}×",
            f"≥ {GOAL_RATIO:.0f}× faster",
            ratio_bulk >= GOAL_RATIO,
        )
    )
    out.goals.append(
        Goal(
            "handler path: one follow-up, one transaction (add_follow_up), vs the peer's add_job",
            f"{one['us_per_follow_up']:.0f} vs {peer['us_per_add']:.0f} µs = {ratio_single:.2f}×",
            "(informational: the path an agent's ✅ takes)",
            None,
        )
    )
    out.goals.append(
        Goal(
            "handler path vs the bare driver sending the same statements, one transaction each",
            f"{one['us_per_follow_up']:.0f} vs {one_floor['us_per_follow_up']:.0f} µs"
            f" = {one['us_per_follow_up'] / one_floor['us_per_follow_up']:.2f}× the floor's time",
            "(informational: what the ORM, asyncio and the async driver add)",
            None,
        )
    )
    out.notes.append(
        f"the bulk path and the peer differ in commits: ours one per {batch:,} follow-ups, the peer's one per add; the"
        " handler path commits once per follow-up like the peer, and writes two rows (follow-up and delivery)"
        " against the peer's one pickled row"
    )
    if not (bulk["consistent"] and floor["consistent"]):
        out.notes.append("CHECK FAILED: the follow-ups and deliveries added do not match one to one")
    return out


async def consistent(sessions: async_sessionmaker[AsyncSession], after: int, count: int) -> bool:
    """Every follow-up added has exactly its delivery (same agent and due time)."""
    async with sessions() as session:
        matched = (
            await session.execute(
                select(func.count())
                .select_from(FollowUp)
                .join(Delivery, Delivery.subject_id == FollowUp.id)
                .where(FollowUp.id > after, Delivery.agent_id == FollowUp.agent_id, Delivery.due_at == FollowUp.due_at)
            )
        ).scalar_one()
    return int(matched) == count
