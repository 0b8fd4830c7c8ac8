"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and times stay UTC."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Connection, String, Text, func, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.agents import NewAgent, get_or_register
from bot.config import Settings
from bot.conversations import Waiting, stop_waiting, wait_for, waiting_for
from bot.db import HEAD_REVISION, current_revision, engine_from_settings, session_factory, upgrade
from bot.models import BROADCAST_ONCE_INDEX, NUDGE_INDEX, NUDGE_KINDS, ONE_WAITING_INDEX, URGENT_INDEX, Agent, Base


def schema_differences(connection: Connection) -> list[object]:
    def declared(item: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
        # DDL in the models (see there), checked below
        return name not in (ONE_WAITING_INDEX, URGENT_INDEX, BROADCAST_ONCE_INDEX, NUDGE_INDEX)

    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": declared})
    differences = list(compare_metadata(context, Base.metadata))
    if connection.dialect.name == "sqlite":
        differences = [difference for difference in differences if not _kept_varchar(difference)]
    return differences


# Migration 0011 leaves these encrypted columns' declared VARCHAR (JSON) on SQLite, where it stores the same as
# TEXT (changing a declared type there means recreating the table), so only that difference is expected there.
KEPT_VARCHAR = {
    ("clients", "name"),
    ("clients", "phone"),
    ("clients", "budget"),
    ("clients", "source"),
    ("conversation_states", "data"),
}


def _kept_varchar(difference: object) -> bool:
    if not (isinstance(difference, list) and len(difference) == 1 and isinstance(difference[0], tuple)):
        return False
    kind, _schema, table, column, _info, old, new = difference[0]
    return (
        kind == "modify_type"
        and (table, column) in KEPT_VARCHAR
        and isinstance(old, String | JSON)
        and isinstance(new.impl if hasattr(new, "impl") else new, Text)
    )


async def index_definition(database: AsyncEngine, name: str) -> str:
    """An index's CREATE statement as the database keeps it."""
    query = (
        "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
        if database.dialect.name == "postgresql"
        else "SELECT sql FROM sqlite_master WHERE name = :name"
    )
    async with database.connect() as connection:
        return str((await connection.execute(text(query), {"name": name})).scalar_one())


async def test_the_one_waiting_index_is_made_by_the_migrations_and_by_create_all(engine: AsyncEngine) -> None:
    """Migration 0006 (real databases) and the models' DDL (create_all) give the same partial unique index."""
    from bot.db import create_engine
    from bot.models import ONE_WAITING_WHERE

    async def definition(database: AsyncEngine) -> str:
        return await index_definition(database, ONE_WAITING_INDEX)

    migrated = await definition(engine)
    assert "UNIQUE INDEX" in migrated and "WHERE" in migrated
    kinds = ("'tip'", "'reflection'", "'reflect_later'", "'digest'")
    for kind in (*kinds, "'pending'", "'claimed'", "'sending'", "'held'"):
        assert kind in migrated
    if engine.dialect.name == "sqlite":
        created = create_engine("sqlite+aiosqlite://")
        try:
            async with created.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            assert (await definition(created)).endswith(f"WHERE {ONE_WAITING_WHERE}")
            assert migrated.split("WHERE")[1].split() == ONE_WAITING_WHERE.split()
        finally:
            await created.dispose()


async def test_the_urgent_index_is_made_by_the_migrations(engine: AsyncEngine) -> None:
    """Migration 0008 gives the partial index the claim finds every non-digest due row by (bot.scheduler)."""
    made = await index_definition(engine, URGENT_INDEX)
    assert "due_at" in made and "'pending'" in made and "'digest'" in made
    assert "'broadcast'" in made  # migration 0009: an announcement to everyone is a wave too


async def test_the_nudge_index_is_made_by_the_migrations(engine: AsyncEngine) -> None:
    """Migration 0013 gives the partial index the claim finds the due nudges by, apart from the recurring prompts
    (bot.scheduler), with exactly the nudge kinds of bot.statuses."""
    made = await index_definition(engine, NUDGE_INDEX)
    assert "due_at" in made and "'pending'" in made
    assert sorted(re.findall(r"'(\w+)'", made.split("kind", 1)[1])) == sorted(NUDGE_KINDS)


async def test_a_broadcast_reaches_an_agent_once_by_the_migrated_index(engine: AsyncEngine) -> None:
    """Migration 0009's partial unique index: one delivery of a broadcast per agent, other kinds untouched."""
    made = await index_definition(engine, BROADCAST_ONCE_INDEX)
    assert "UNIQUE INDEX" in made and "subject_id" in made and "'broadcast'" in made


async def test_migrated_schema_matches_the_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []


async def test_upgrade_is_idempotent(engine: AsyncEngine) -> None:
    """Every start runs the upgrade: on a database already at head it changes nothing and keeps every row."""
    sessions = session_factory(engine)
    now = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    async with sessions() as session, session.begin():
        await get_or_register(session, NewAgent(1, 1, "A", "en", "Asia/Shanghai"), now)
    await upgrade(engine)
    await upgrade(engine)
    assert await current_revision(engine) == HEAD_REVISION
    async with sessions() as session:
        agents = (await session.execute(select(Agent.telegram_user_id, Agent.display_name))).all()
    assert [tuple(agent) for agent in agents] == [(1, "A")]
    async with engine.connect() as connection:
        assert await connection.run_sync(schema_differences) == []


async def test_instants_come_back_aware_in_utc(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    shanghai_morning = datetime(2026, 11, 25, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    async with sessions() as session, session.begin():
        await get_or_register(session, NewAgent(1, 1, "A", "en", "Asia/Shanghai"), shanghai_morning)
    async with sessions() as session:
        agent = await session.get(Agent, 1)
    assert agent is not None
    assert agent.created_at == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert agent.created_at.tzinfo is not None and agent.created_at.utcoffset() == timedelta(0)
    assert agent.reflection_time == time(21, 0)


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    """A naive datetime could be any zone's wall clock: storing it would shift every time; it is refused."""
    sessions = session_factory(engine)
    with pytest.raises(StatementError, match="naive datetime given where a UTC instant is required") as refused:
        async with sessions() as session, session.begin():
            await get_or_register(session, NewAgent(2, 2, "B", "en", "UTC"), datetime(2026, 1, 1))
    assert isinstance(refused.value.orig, ValueError)
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Agent))).scalar_one() == 0


async def test_conversation_state_round_trip(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    async with sessions() as session, session.begin():
        await wait_for(session, 7, Waiting("settings", "timezone", {"from": "panel"}), now)
        await wait_for(session, 7, Waiting("onboarding", "reflection"), now)  # the newest flow wins
    async with sessions() as session:
        assert await waiting_for(session, 7) == Waiting("onboarding", "reflection", {})
    async with sessions() as session, session.begin():
        assert await stop_waiting(session, 7) is True
        assert await stop_waiting(session, 7) is False


def test_head_revision_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from bot.db import HEAD_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


async def test_a_database_at_head_is_recognised(engine: AsyncEngine) -> None:
    from bot.db import HEAD_REVISION, current_revision

    assert await current_revision(engine) == HEAD_REVISION


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that lets everyone read new files, as on many servers; the database must not rely on it."""
    before = os.umask(0)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_sqlite_database_and_its_folder_are_owner_only(tmp_path: Path, permissive_umask: None) -> None:
    data = tmp_path / "data"
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{data}/agentcoach.db")
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:  # while a connection is open, -wal and -shm exist
            await connection.execute(text("SELECT count(*) FROM agents"))
            files = {path.name: mode(path) for path in data.iterdir()}
    finally:
        await engine.dispose()
    assert mode(data) == 0o700
    assert files == {"agentcoach.db": 0o600, "agentcoach.db-wal": 0o600, "agentcoach.db-shm": 0o600}


async def test_an_older_world_readable_database_is_made_owner_only_at_start(
    tmp_path: Path, permissive_umask: None
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with sqlite3.connect(data / "agentcoach.db") as old:  # as an older version left it: 0644 in a 0755 folder
        old.execute("PRAGMA journal_mode=WAL")
        old.execute("CREATE TABLE kept (note TEXT)")
        old.execute("INSERT INTO kept VALUES ('王先生 13800000000')")
    (data / "agentcoach.db").chmod(0o644)
    assert mode(data) == 0o755
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{data}/agentcoach.db")
    engine = engine_from_settings(settings)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT note FROM kept"))).scalar_one() == "王先生 13800000000"
            assert {path.name: mode(path) for path in data.iterdir()} == {
                "agentcoach.db": 0o600,
                "agentcoach.db-wal": 0o600,
                "agentcoach.db-shm": 0o600,
            }
    finally:
        await engine.dispose()
    assert mode(data) == 0o700


def shared_folder(folder: Path) -> None:
    (folder / "notes.txt").write_text("not ours")
    (folder / "notes.txt").chmod(0o644)
    folder.chmod(0o755)
    (folder / "agentcoach.db").touch(mode=0o644)


async def test_a_shared_folder_is_left_alone_but_the_database_in_it_is_tightened(
    tmp_path: Path, permissive_umask: None
) -> None:
    """The database may live in a folder of other things (a home folder): only our files are ours to change."""
    shared_folder(tmp_path)
    engine = engine_from_settings(
        Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db")
    )
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    assert (mode(tmp_path), mode(tmp_path / "agentcoach.db"), mode(tmp_path / "notes.txt")) == (0o755, 0o600, 0o644)


async def test_start_up_goes_on_when_the_mode_cannot_be_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(path))

    (tmp_path / "data").mkdir(mode=0o755)
    (tmp_path / "data").chmod(0o755)
    monkeypatch.setattr(os, "chmod", refuse)
    engine = engine_from_settings(
        Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/data/agentcoach.db")
    )
    try:
        await upgrade(engine)
        assert await current_revision(engine) == HEAD_REVISION
    finally:
        await engine.dispose()
    assert "could not make" in caplog.text


async def test_files_of_another_owner_are_left_alone(
    tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database shared on purpose by its owner (the bot reading it as another user) is not ours to change."""
    shared_folder(tmp_path)
    (tmp_path / "notes.txt").unlink()  # a folder holding only the database, which would otherwise be tightened
    owner = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    engine = engine_from_settings(
        Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db")
    )
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    assert (mode(tmp_path), mode(tmp_path / "agentcoach.db")) == (0o755, 0o644)


async def test_the_pre_check_leaves_sqlite_uris_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A URI database (here shared memory) is not a file name: checking it must not create a file called "file:…"."""
    from sqlalchemy.pool import StaticPool

    from bot.db import create_engine

    monkeypatch.chdir(tmp_path)
    engine = create_engine("sqlite+aiosqlite:///file:precheck?mode=memory&cache=shared&uri=true", poolclass=StaticPool)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    assert os.listdir(tmp_path) == []
