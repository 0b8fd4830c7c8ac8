"""The engine, the session factory and the migrations runner: one place for everything about the database."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.config import Settings
from bot.crypto import attach
from bot.sqlite_driver import use_one_hop

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = "bot:migrations"
# The newest migration; a test checks it against Alembic's head. A database already there skips Alembic (and
# its import) at start-up, which is most starts.
HEAD_REVISION = "0014"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg), tuned for a long-running bot."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "do_connect", use_one_hop)  # one thread round trip per statement
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    engine = create_async_engine(url, **kwargs)
    event.listen(engine.sync_engine, "checkout", ping_if_idle(engine))
    event.listen(engine.sync_engine, "checkin", _note_idle)
    return engine


# A pooled PostgreSQL connection unused for this long is pinged before use (one round trip), as pool_pre_ping
# would do on every checkout: a server restart or a cut connection then costs no update. One in steady use skips
# the ping (a round trip of an update's five or six); should the server drop it in that window, the update that
# meets the broken connection fails, the pool is emptied, and the next update gets a fresh connection.
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "agentcoach_idle_since"


def ping_if_idle(engine: AsyncEngine) -> Callable[[Any, Any, Any], None]:
    def ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool throws this connection away and checks out another
            raise DisconnectionError(f"connection unusable: {error}") from error

    return ping


def _note_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the shell or a second reader look while the bot writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def insert_or_skip(session: AsyncSession, model: type[Any]) -> Any:
    """The dialect's own INSERT for `model`, which knows ON CONFLICT (PostgreSQL and SQLite both do): for rows
    that another transaction may add at the same moment, where the database's unique index decides."""
    return dialect_insert(session.get_bind().dialect.name)(model)


def dialect_insert(dialect: str) -> Callable[[Any], Any]:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


S = TypeVar("S")


def upsert_per_dialect(build: Callable[[Callable[[Any], Any]], S]) -> Callable[[AsyncSession], S]:
    """A statement made once per dialect by `build(insert)`, `insert` being the dialect's own (as in
    `insert_or_skip`), for the session's database. For the upserts most updates run: building a statement and
    its cache key costs more than running it, so they are built with bind parameters and reused."""
    built: dict[str, S] = {}

    def for_session(session: AsyncSession) -> S:
        dialect = session.get_bind().dialect.name
        statement = built.get(dialect)
        if statement is None:
            statement = built[dialect] = build(dialect_insert(dialect))
        return statement

    return for_session


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


# The files SQLite keeps beside the database; they hold the same client data.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class DatabaseUnusable(Exception):
    """The database cannot be opened or is not a database; the message says what is wrong and what to do."""


def engine_from_settings(settings: Settings) -> AsyncEngine:
    """The engine for DATABASE_URL, encrypting with DATA_KEY's keys when set (bot.crypto)."""
    path = settings.sqlite_path()
    if path is not None:
        prepare_sqlite_file(path)
    engine = create_engine(settings.database_url)
    attach(engine, settings.keyring())
    return engine


def prepare_sqlite_file(path: Path) -> None:
    """Make the database owner-only before SQLite first opens it: client phones and reflections are in it.

    A new folder is made 0700 and a new database 0600 (an empty file is an empty SQLite database); SQLite
    gives its -wal, -shm and -journal files the database file's mode. Files an older version left readable by
    others are tightened, and so is their folder when it holds nothing but them (a folder of other things,
    such as a home folder, is not ours to change). Only what this user owns is touched, and a failure here
    never stops start-up: SQLite reports a database it cannot open.
    """
    folder = path.parent
    companions = [path.with_name(path.name + end) for end in SQLITE_COMPANIONS]
    ours = {file.name for file in (path, *companions)}
    try:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
            os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask
        elif folder.is_dir() and {entry.name for entry in folder.iterdir()} <= ours:
            _owner_only(folder)
    except OSError as error:
        log.warning("could not make the folder %s owner-only: %s", folder, error)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)  # exactly, whatever the umask
    except FileExistsError:
        pass
    except OSError as error:  # SQLite will say so in one line when it cannot create it either
        log.debug("could not create %s: %s", path, error)
    for file in (path, *companions):
        try:
            if file.is_file():
                _owner_only(file)
        except OSError as error:
            log.warning("could not make %s owner-only: %s", file, error)


def _owner_only(path: Path) -> None:
    """Take group and other permissions off a file or folder this user owns."""
    status = path.stat()
    mode = stat.S_IMODE(status.st_mode)
    if status.st_uid == os.geteuid() and mode & 0o077:
        os.chmod(path, mode & 0o700)
        log.info("made %s owner-only (it was %o)", path, mode)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        try:
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one_or_none()
        except Exception:  # no table yet: a new database
            return None


def unusable(engine: AsyncEngine, error: BaseException) -> DatabaseUnusable | None:
    """One line for an operator when the SQLite file is damaged, not a database, or cannot be opened."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    reason, path = str(getattr(error, "orig", None) or error), Path(engine.url.database or "")
    if "file is not a database" in reason or "malformed" in reason:
        return DatabaseUnusable(
            f"{path} is not a valid SQLite database ({reason}): restore it from a backup "
            "or move it away to start with a new one"
        )
    if "unable to open" in reason or "readonly" in reason:
        return DatabaseUnusable(
            f"cannot open {path} ({reason}): check that it is a file this user can read and write, in a folder "
            "it can write to"
        )
    return None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the engine's database (idempotent, run at every start), then, at the
    head, check the data key against the database (bot.data_keys.unlock).

    Raises DatabaseUnusable when the SQLite file cannot be used at all, or DATA_KEY cannot open the database,
    so start-up ends with one line.
    """
    check_sqlite_file(engine)
    try:
        await _upgrade(engine, revision)
    except DBAPIError as error:
        reason = unusable(engine, error)
        if reason is None:
            raise
        raise reason from error
    if revision in ("head", HEAD_REVISION):
        from bot.data_keys import unlock

        await unlock(engine)


def check_sqlite_file(engine: AsyncEngine) -> None:
    """Open the SQLite file once with the standard library first: a file that is not a database fails here, in
    this thread. Through aiosqlite the failure also leaves its worker thread answering a loop that may be closed
    by then (a stray "Event loop is closed" traceback after our one line)."""
    database = engine.url.database or ""
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI (shared memory, read-only…): the stdlib would take it for a file name
        return
    try:
        with closing(sqlite3.connect(database)) as connection:
            connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as error:
        reason = unusable(engine, error)
        if reason is not None:
            raise reason from None


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    if revision == "head" and await current_revision(engine) == HEAD_REVISION:
        return

    def run(connection: Connection) -> None:
        from alembic import command

        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
    log.info("database schema is at %s", revision)
