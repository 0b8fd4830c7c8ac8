"""A fresh database per backend and run, seeded fast, and the handful of rows the scenarios make due.

SQLite is a file in a temp folder; PostgreSQL is a new database `agentcoach_bench_<stamp>` on the local server
(127.0.0.1:5432), dropped at the end. Both are migrated with the bot's own Alembic migrations, then filled with
bulk statements rather than the bot's code paths: executemany through a synchronous SQLAlchemy connection on
SQLite (so every value goes through the same column types the bot uses), COPY through asyncpg on PostgreSQL
(foreign-key triggers off while copying, then VACUUM ANALYZE, as autovacuum would do on a live server).

The data: `agents` agents, one client each, and `pending` open follow-ups dealt round-robin over the agents
(follow-up i belongs to agent ((i - 1) mod agents) + 1), each with its pending `Delivery` row (same id). Every
due time lies one to thirty-one days ahead, so nothing is due until a scenario makes it so: `make_due(n)`
moves the deliveries 1..n (n distinct agents, as long as n <= agents) to a minute ago; `restore(n)` puts them
back to their seeded state and time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import create_engine, session_factory, upgrade
from bot.models import Base, Delivery, FollowUp
from bot.scheduler import PENDING

POSTGRES_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
CHUNK = 20_000
FIRST_DUE = timedelta(days=1)
SPREAD_SECONDS = 30 * 86_400
LANGUAGES = ("zh-Hans", "en", "zh-Hant")
NOTE = "带看新房"


Row = Callable[[int], dict[str, Any]]


def due_for(delivery_id: int, base: datetime) -> datetime:
    """The seeded due time of follow-up/delivery `delivery_id`: spread over 30 days, starting a day after base."""
    return base + FIRST_DUE + timedelta(seconds=(delivery_id * 7919) % SPREAD_SECONDS)


@dataclass
class Database:
    backend: str  # "sqlite" | "postgresql"
    url: str  # what DATABASE_URL is set to for the bot
    sync_url: str  # the same database for a synchronous engine (the APScheduler job-store peer)
    path: Path | None = None  # the SQLite file
    name: str | None = None  # the PostgreSQL database

    def engine(self) -> AsyncEngine:
        return create_engine(self.url)


async def create(backend: str, workdir: Path) -> Database:
    """A new, migrated, empty database."""
    if backend == "sqlite":
        path = workdir / "bench.db"
        db = Database(backend, f"sqlite+aiosqlite:///{path}", f"sqlite:///{path}", path=path)
    else:
        name = f"agentcoach_bench_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()
        db = Database(
            backend, f"{POSTGRES_SERVER}/{name}", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name=name
        )
    engine = db.engine()
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return db


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def drop(db: Database) -> None:
    if db.path is not None:
        _remove_sqlite(db.path)
        return
    admin = create_engine(f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def server_version() -> str:
    admin = create_engine(f"{POSTGRES_SERVER}/postgres")
    try:
        async with admin.connect() as connection:
            return str((await connection.execute(text("SHOW server_version"))).scalar_one())
    finally:
        await admin.dispose()


# ---------------------------------------------------------------------------------------------- rows


def _agent(i: int, now: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "telegram_user_id": 10_000_000 + i,
        "chat_id": 10_000_000 + i,
        "display_name": f"Agent {i}",
        "language": LANGUAGES[i % len(LANGUAGES)],
        "timezone": "Asia/Shanghai",
        "reflection_time": time_of_day(21, 0),
        "work_days": "123456",
        "digest_weekday": 7,
        "digest_time": time_of_day(20, 0),
        "tip_time": None,
        "followup_time": time_of_day(10, 0),
        "setup_step": None,
        "active": True,
        "created_at": now,
        "updated_at": now,
    }


def _client(i: int, now: datetime) -> dict[str, Any]:
    return {
        "id": i,
        "agent_id": i,
        "name": f"王先生{i}",
        "phone": None,
        "needs": "三居",
        "budget": "300万",
        "stage": "interested",
        "source": None,
        "notes": None,
        "archived": False,
        "created_at": now,
        "updated_at": now,
    }


def _follow_up(i: int, agents: int, base: datetime) -> dict[str, Any]:
    agent = (i - 1) % agents + 1
    return {
        "id": i,
        "agent_id": agent,
        "client_id": agent,
        "due_at": due_for(i, base),
        "note": NOTE,
        "status": "open",
        "outcome": None,
        "done_at": None,
        "created_at": base,
        "updated_at": base,
    }


def _delivery(i: int, agents: int, base: datetime) -> dict[str, Any]:
    return _pending(i, (i - 1) % agents + 1, "followup", i, due_for(i, base), base)


def _pending(
    delivery_id: int, agent: int, kind: str, subject: int | None, due: datetime, base: datetime
) -> dict[str, Any]:
    return {
        "id": delivery_id,
        "agent_id": agent,
        "kind": kind,
        "subject_id": subject,
        "due_at": due,
        "status": PENDING,
        "lease_until": None,
        "attempts": 0,
        "late": False,
        "sent_at": None,
        "message_id": None,
        "last_error": None,
        "created_at": base,
    }


# Each agent's waiting reflection prompt, as a live database holds one (the bot adds any that are missing at
# start). Ids far above the follow-ups' and due after all of them, so no scenario ever makes one due.
PROMPT_IDS = 50_000_000


def _prompt(agent: int, base: datetime) -> dict[str, Any]:
    return _pending(PROMPT_IDS + agent, agent, "reflection", None, base + timedelta(days=40), base)


def _chunks(start: int, stop: int) -> Iterator[range]:
    for first in range(start, stop, CHUNK):
        yield range(first, min(first + CHUNK, stop))


# ---------------------------------------------------------------------------------------------- seeding


@dataclass
class Seeder:
    """Fills `db` in stages: the agents and clients once, then pending follow-ups up to a growing total."""

    db: Database
    agents: int
    base: datetime
    pending: int = 0

    async def seed_agents(self) -> float:
        started = time.perf_counter()
        await self._copy("agents", lambda i: _agent(i, self.base), 1, self.agents + 1)
        await self._copy("clients", lambda i: _client(i, self.base), 1, self.agents + 1)
        await self._copy(
            "deliveries",
            lambda i: _prompt(i - PROMPT_IDS, self.base),
            PROMPT_IDS + 1,
            PROMPT_IDS + self.agents + 1,
        )
        return time.perf_counter() - started

    async def seed_pending(self, upto: int) -> float:
        """Add follow-ups (and their deliveries) up to `upto` in all; returns the seconds it took."""
        if upto <= self.pending:
            return 0.0
        started = time.perf_counter()
        start, stop = self.pending + 1, upto + 1
        await self._copy("follow_ups", lambda i: _follow_up(i, self.agents, self.base), start, stop)
        await self._copy("deliveries", lambda i: _delivery(i, self.agents, self.base), start, stop)
        self.pending = upto
        return time.perf_counter() - started

    async def settle(self) -> float:
        """What a live database would have done by itself: statistics and a clean heap (PG), a checkpoint (SQLite)."""
        started = time.perf_counter()
        if self.db.backend == "postgresql":
            connection = await asyncpg.connect(_asyncpg_dsn(self.db.url))
            try:
                await connection.execute("VACUUM ANALYZE")
            finally:
                await connection.close()
        else:
            sync = create_sync_engine(self.db.sync_url)
            try:
                with sync.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                sync.dispose()
        return time.perf_counter() - started

    async def _copy(self, table: str, make: Row, start: int, stop: int) -> None:
        if self.db.backend == "postgresql":
            await self._copy_postgres(table, make, start, stop)
        else:
            self._insert_sqlite(table, make, start, stop)

    def _insert_sqlite(self, table: str, make: Row, start: int, stop: int) -> None:
        sync = create_sync_engine(self.db.sync_url)
        target = Base.metadata.tables[table]
        try:
            with sync.connect() as connection:
                connection.exec_driver_sql("PRAGMA synchronous=OFF")  # seeding only; the bot keeps its defaults
                for chunk in _chunks(start, stop):
                    connection.execute(insert(target), [make(i) for i in chunk])
                connection.commit()
        finally:
            sync.dispose()

    async def _copy_postgres(self, table: str, make: Row, start: int, stop: int) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(self.db.url))
        try:
            await connection.execute("SET session_replication_role = replica")  # no FK triggers: rows are consistent
            columns: list[str] | None = None
            for chunk in _chunks(start, stop):
                rows = [make(i) for i in chunk]
                columns = columns or list(rows[0])
                await connection.copy_records_to_table(
                    table, records=[tuple(row[c] for c in columns) for row in rows], columns=columns
                )
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
        finally:
            await connection.close()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# ---------------------------------------------------------------------------------------------- due rows


async def make_due(sessions: async_sessionmaker[AsyncSession], n: int, at: datetime) -> None:
    """Deliveries 1..n (one per agent) pending and due at `at`, as if they were never sent."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(Delivery)
            .where(Delivery.id.between(1, n))
            .values(
                status=PENDING,
                due_at=at,
                lease_until=None,
                claimed_by=None,
                attempts=0,
                late=False,
                sent_at=None,
                message_id=None,
                last_error=None,
            )
        )


async def restore(sessions: async_sessionmaker[AsyncSession], n: int, base: datetime) -> None:
    """Deliveries 1..n back to their seeded state and (future) due time."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(Base.metadata.tables["deliveries"])
            .where(Base.metadata.tables["deliveries"].c.id == bindparam("b_id"))
            .values(
                status=PENDING,
                due_at=bindparam("b_due"),
                lease_until=None,
                claimed_by=None,
                attempts=0,
                late=False,
                sent_at=None,
                message_id=None,
                last_error=None,
            ),
            [{"b_id": i, "b_due": due_for(i, base)} for i in range(1, n + 1)],
        )


async def status_counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = (await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))).all()
    return {str(status): int(count) for status, count in rows}


async def remove_after(sessions: async_sessionmaker[AsyncSession], follow_up_id: int, delivery_id: int) -> None:
    """Drop what a scenario added (ids above the given ones), so later scenarios see the seeded data again."""
    async with sessions() as session, session.begin():
        await session.execute(delete(Delivery).where(Delivery.id > delivery_id))
        await session.execute(delete(FollowUp).where(FollowUp.id > follow_up_id))


async def max_ids(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        follow_up = (await session.execute(select(func.max(FollowUp.id)))).scalar_one()
        delivery = (await session.execute(select(func.max(Delivery.id)))).scalar_one()
    return int(follow_up or 0), int(delivery or 0)


def open_sessions(db: Database) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    engine = db.engine()
    return engine, session_factory(engine)


def utcnow() -> datetime:
    return datetime.now(UTC)
