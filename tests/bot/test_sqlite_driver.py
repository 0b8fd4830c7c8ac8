"""The SQLite connection behind the bot's engine: one thread round trip per statement, same results as aiosqlite."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import create_engine, session_factory, upgrade
from bot.models import Agent
from tests.conftest import START


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every call handed to a connection's thread."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield calls


def agent_row(user_id: int) -> dict[str, Any]:
    return {
        "telegram_user_id": user_id,
        "chat_id": user_id,
        "display_name": f"agent {user_id}",
        "language": "en",
        "timezone": "Asia/Shanghai",
        "reflection_time": START.time(),
        "work_days": "12345",
        "digest_weekday": 7,
        "digest_time": START.time(),
        "followup_time": START.time(),
        "active": True,
        "created_at": START,
        "updated_at": START,
    }


async def test_a_read_is_one_round_trip_and_its_commit_none(sqlite: AsyncEngine, trips: list[str]) -> None:
    sessions = session_factory(sqlite)
    async with sessions() as session, session.begin():
        await session.execute(insert(Agent), [agent_row(1), agent_row(2)])
    trips.clear()
    async with sessions() as session, session.begin():
        found = (await session.execute(select(Agent.telegram_user_id).order_by(Agent.telegram_user_id))).scalars()
        assert list(found) == [1, 2]
    assert trips == ["run"]  # the statement; nothing to commit, and the pool's reset has nothing to undo


async def test_a_write_is_one_round_trip_and_its_commit_one(sqlite: AsyncEngine, trips: list[str]) -> None:
    sessions = session_factory(sqlite)
    async with sessions() as session, session.begin():
        session.add(Agent(**agent_row(7)))
    assert trips == ["run", "commit"]
    async with sessions() as session:
        assert (await session.execute(select(Agent.display_name))).scalar_one() == "agent 7"


async def test_rowcount_returning_and_executemany_as_sqlite_reports_them(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as connection:
        await connection.execute(insert(Agent), [agent_row(n) for n in range(1, 6)])  # executemany
        changed = await connection.execute(update(Agent).where(Agent.telegram_user_id > 2).values(language="zh-Hans"))
        assert changed.rowcount == 3
        returned = await connection.execute(
            update(Agent).where(Agent.telegram_user_id <= 2).values(work_days="123456").returning(Agent.id)
        )
        assert sorted(returned.scalars()) == [1, 2]
        inserted = await connection.execute(insert(Agent).values(**agent_row(9)))
        assert inserted.inserted_primary_key == (6,)
        assert (await connection.execute(text("SELECT count(*) FROM agents"))).scalar_one() == 6


async def test_an_error_rolls_back_and_reads_as_sqlalchemy_error(sqlite: AsyncEngine) -> None:
    sessions = session_factory(sqlite)
    with pytest.raises(IntegrityError):
        async with sessions() as session, session.begin():
            await session.execute(insert(Agent), [agent_row(3)])
            await session.execute(insert(Agent), [agent_row(3)])  # telegram_user_id is unique
    async with sessions() as session:
        assert (await session.execute(select(Agent))).first() is None  # the first insert went with the rollback


async def test_rows_are_fetched_in_parts_too(sqlite: AsyncEngine) -> None:
    async with sqlite.begin() as connection:
        await connection.execute(insert(Agent), [agent_row(n) for n in range(1, 8)])
    async with sqlite.connect() as connection:
        result = await connection.stream(select(Agent.telegram_user_id).order_by(Agent.telegram_user_id))
        parts = [list(part) async for part in result.scalars().partitions(3)]
        assert parts == [[1, 2, 3], [4, 5, 6], [7]]


def test_a_database_that_cannot_be_opened_leaves_no_thread_to_die_after_its_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed start (the database's folder is a file) ends its event loop at once. The connection's thread must be
    gone by then: one that finishes afterwards dies with "Event loop is closed" (aiosqlite alone: about every
    second time here)."""
    not_a_folder = tmp_path / "agentcoach.db"
    not_a_folder.write_text("a file where the database's folder should be", encoding="utf-8")
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died.append(hook.exc_value))
    threads: list[threading.Thread] = []

    async def start() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{not_a_folder}/agentcoach.db")
        try:
            with pytest.raises(OperationalError, match="unable to open database file"):
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()

    for _ in range(40):
        before = set(threading.enumerate())
        asyncio.run(start())  # a fresh loop, closed as soon as the start has failed
        threads.extend(set(threading.enumerate()) - before)  # this start's connection thread, if still running
    for thread in threads:
        thread.join(timeout=5)
    assert died == []
