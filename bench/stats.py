"""`agentcoach stats` on a large table: how long `bot.stats.gather_stats` takes, and each query's plan.

    python -m bench.stats --backend both --rows 100000

Seeds `rows` deliveries over 1,000 agents in the proportions of a bot that has run for a month (70 % sent over
30 days, 24 % pending later, 1 % due now, the rest cancelled, failed, held, in flight), runs ANALYZE, then times
gather_stats (one warm-up, then the median of `repeats`) and prints the plans: SQLite's EXPLAIN QUERY PLAN and
PostgreSQL's EXPLAIN. A throwaway database (a temporary SQLite file; a PostgreSQL database `wt_ops_bench_stats`,
dropped after) at BENCH_POSTGRES_URL's server (default the local one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bulk import insert_rows
from bot.db import create_engine, session_factory, upgrade
from bot.models import WAITING_STATUSES, Agent, Delivery
from bot.stats import gather_stats
from bot.statuses import DeliveryKind, DeliveryStatus

POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
DATABASE = "wt_ops_bench_stats"
AGENTS = 1000
KINDS = list(DeliveryKind)


def delivery_rows(count: int, now: datetime) -> list[tuple[object, ...]]:
    """(agent_id, kind, due_at, status, lease_until, sent_at, late, attempts, created_at) for `count` rows."""
    rng = random.Random(7)
    rows: list[tuple[object, ...]] = []
    for n in range(count):
        agent, kind, roll = n % AGENTS + 1, rng.choice(KINDS), rng.random()
        due, lease, sent, status = now, None, None, DeliveryStatus.PENDING
        if roll < 0.70:
            sent = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
            due, status = sent - timedelta(seconds=rng.uniform(0, 60)), DeliveryStatus.SENT
        elif roll < 0.94:
            due = now + timedelta(seconds=rng.uniform(60, 30 * 86400))
        elif roll < 0.95:
            due = now - timedelta(seconds=rng.uniform(0, 600))
        elif roll < 0.97:
            due, status = now - timedelta(days=rng.uniform(0, 30)), DeliveryStatus.CANCELLED
        elif roll < 0.98:
            due, status = now - timedelta(days=rng.uniform(0, 30)), DeliveryStatus.FAILED
            lease = due + timedelta(minutes=3)
        elif roll < 0.995:
            due, status = now - timedelta(days=rng.uniform(0, 30)), DeliveryStatus.HELD
        else:
            status, lease = rng.choice([DeliveryStatus.CLAIMED, DeliveryStatus.SENDING]), now + timedelta(minutes=5)
        if status in WAITING_STATUSES:
            kind = DeliveryKind.FOLLOWUP  # the kinds of one waiting row per agent are few; follow-ups are many
        late = sent is not None and rng.random() < 0.05
        rows.append((agent, kind, due, status, lease, sent, late, 1, now - timedelta(days=31)))
    return rows


async def seed(engine: AsyncEngine, count: int, now: datetime) -> None:
    async with session_factory(engine)() as session, session.begin():
        for n in range(AGENTS):
            session.add(
                Agent(
                    telegram_user_id=10_000 + n,
                    chat_id=10_000 + n,
                    display_name=f"a{n}",
                    language="en",
                    timezone="Asia/Shanghai",
                    reflection_time=datetime.min.time(),
                    work_days="12345",
                    digest_weekday=7,
                    digest_time=datetime.min.time(),
                    setup_step=None if n % 50 else "timezone",
                    active=bool(n % 40),
                    created_at=now,
                    updated_at=now,
                )
            )
    columns = ["agent_id", "kind", "due_at", "status", "lease_until", "sent_at", "late", "attempts", "created_at"]
    rows = delivery_rows(count, now)
    for start in range(0, len(rows), 50_000):
        async with session_factory(engine)() as session, session.begin():
            await insert_rows(session, Delivery.__table__, columns, rows[start : start + 50_000])  # type: ignore[arg-type]
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
        await connection.commit()


async def measure(engine: AsyncEngine, repeats: int, now: datetime) -> tuple[float, list[tuple[str, object]]]:
    """The median time of gather_stats, and its statements with the parameters they ran with."""
    statements: list[tuple[str, object]] = []

    def keep(conn: object, cursor: object, statement: str, parameters: object, *args: object) -> None:
        statements.append((statement, parameters))

    sessions = session_factory(engine)
    async with sessions() as session:
        await gather_stats(session, now)  # warm-up
    times = []
    for _ in range(repeats):
        async with sessions() as session:
            started = time.perf_counter()
            await gather_stats(session, now)
            times.append((time.perf_counter() - started) * 1000)
    event.listen(engine.sync_engine, "before_cursor_execute", keep)
    async with sessions() as session:
        await gather_stats(session, now)
    event.remove(engine.sync_engine, "before_cursor_execute", keep)
    return statistics.median(times), [
        (sql, params) for sql, params in statements if "deliveries" in sql or "agents" in sql
    ]


async def plans(engine: AsyncEngine, statements: list[tuple[str, object]]) -> list[str]:
    """Each statement's time (median of 5) and plan with its own parameters: SQLite's EXPLAIN QUERY PLAN,
    PostgreSQL's EXPLAIN."""
    out = []
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    async with engine.connect() as connection:
        for sql, parameters in statements:
            rows = await connection.exec_driver_sql(explain + sql, parameters)  # type: ignore[arg-type]
            plan = "\n".join("    " + str(row[-1]) for row in rows)
            times = []
            for _ in range(5):
                started = time.perf_counter()
                await connection.exec_driver_sql(sql, parameters)  # type: ignore[arg-type]
                times.append((time.perf_counter() - started) * 1000)
            out.append(f"    -- median {statistics.median(times):.1f} ms\n{plan}")
    return out


async def run(backend: str, rows: int, repeats: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            url = f"sqlite+aiosqlite:///{Path(folder) / 'stats.db'}"
        else:
            admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
            async with admin.connect() as connection:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
                await connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
            url = POSTGRES.rsplit("/", 1)[0] + "/" + DATABASE
        engine = create_engine(url)
        try:
            await upgrade(engine)
            started = time.perf_counter()
            await seed(engine, rows, now)
            print(f"{backend}: seeded {rows:,} deliveries in {time.perf_counter() - started:.0f} s")
            median, statements = await measure(engine, repeats, now)
            print(f"{backend}: gather_stats median {median:.1f} ms over {repeats} runs, {len(statements)} statements")
            for (statement, _), plan in zip(statements, await plans(engine, statements), strict=True):
                print("  " + " ".join(statement.split())[:160])
                print(plan)
        finally:
            await engine.dispose()
            if backend != "sqlite":
                async with admin.connect() as connection:
                    await connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
                await admin.dispose()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    options.add_argument("--rows", type=int, default=100_000)
    options.add_argument("--repeats", type=int, default=9)
    args = options.parse_args()
    for backend in ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]:
        asyncio.run(run(backend, args.rows, args.repeats))


if __name__ == "__main__":
    main()
