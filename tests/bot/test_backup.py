"""`agentcoach db backup PATH`: a copy taken while another connection writes is one consistent instant of the
database and passes SQLite's integrity check; an existing PATH is kept unless --force; on PostgreSQL the command
names pg_dump and never the password."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from collections import Counter
from contextlib import closing
from pathlib import Path

import pytest

from bot.backup import BackupRefused, backup_sqlite, pg_dump_command
from bot.db import create_engine, upgrade
from tests.command import run_agentcoach

ROOT = Path(__file__).resolve().parents[2]


def migrated(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)

    async def make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(make())
    return path


def insert_agents(path: Path, agents: dict[int, bool]) -> None:
    """Onboarded agents by chat id, active or not, written straight into the file (no engine in the way)."""
    with closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO agents (telegram_user_id, chat_id, display_name, language, timezone, reflection_time,"
            " work_days, digest_weekday, digest_time, followup_time, active, created_at, updated_at)"
            " VALUES (?, ?, 'a', 'en', 'UTC', '21:00:00', '12345', 7, '20:00:00', '10:00:00', ?,"
            " '2026-12-01 00:00:00', '2026-12-01 00:00:00')",
            [(chat, chat, active) for chat, active in agents.items()],
        )


def seed(path: Path, agents: int, filler_rows: int) -> None:
    """Agents, and a table of pairs: rows written two per transaction, so a torn copy would show an odd pair."""
    insert_agents(path, dict.fromkeys(range(1, agents + 1), True))
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE pairs (id INTEGER PRIMARY KEY, pair INTEGER NOT NULL, filler BLOB)")
        db.executemany(
            "INSERT INTO pairs (pair, filler) VALUES (?, ?)", [(n // 2, os.urandom(400)) for n in range(filler_rows)]
        )


def test_a_backup_taken_while_another_connection_writes_is_one_consistent_instant(tmp_path: Path) -> None:
    source = migrated(tmp_path / "agentcoach.db")
    seed(source, agents=25, filler_rows=40_000)  # ~20 MiB: the copy takes a while, the writer goes on meanwhile
    stop, written, errors = threading.Event(), Counter[str](), list[BaseException]()

    def write_pairs() -> None:
        try:
            with closing(sqlite3.connect(source, timeout=30)) as db:
                pair = 10**6
                while not stop.is_set():
                    with db:  # one transaction, two rows
                        db.execute("INSERT INTO pairs (pair) VALUES (?)", (pair,))
                        db.execute("INSERT INTO pairs (pair) VALUES (?)", (pair,))
                    written["pairs"] += 1
                    pair += 1
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    writer = threading.Thread(target=write_pairs)
    writer.start()
    try:
        while written["pairs"] < 20:  # the writer is going before the copy starts (bounded by its own pace)
            assert writer.is_alive(), errors
            stop.wait(0.005)
        before = written["pairs"]
        result = backup_sqlite(source, tmp_path / "backup.db")
        during = written["pairs"] - before
        stop.wait(0.05)
    finally:
        stop.set()
        writer.join(30)
    assert not errors, errors
    assert during > 0 or written["pairs"] > before, "the writer must have kept writing"
    with closing(sqlite3.connect(result.path)) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file, no -wal beside it
        counts = Counter(pair for (pair,) in copy.execute("SELECT pair FROM pairs"))
        copied_pairs = sum(1 for pair in counts if pair >= 10**6)
    assert set(counts.values()) == {2}, "a transaction's two rows are both in the copy or neither"
    assert 0 < copied_pairs <= written["pairs"]
    assert result.agents == 25 and result.size == result.path.stat().st_size > 10 * 2**20
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600  # clients' phones are in it
    assert not result.path.with_name("backup.db.tmp").exists()


def test_an_existing_file_is_kept_unless_forced(tmp_path: Path) -> None:
    source = migrated(tmp_path / "agentcoach.db")
    target = tmp_path / "backup.db"
    target.write_bytes(b"yesterday's backup")
    with pytest.raises(BackupRefused, match="exists; use --force"):
        backup_sqlite(source, target)
    assert target.read_bytes() == b"yesterday's backup"
    assert backup_sqlite(source, target, force=True).agents == 0
    with closing(sqlite3.connect(target)) as copy:
        assert copy.execute("SELECT count(*) FROM agents").fetchone() == (0,)


def test_what_cannot_be_backed_up_is_one_clear_refusal(tmp_path: Path) -> None:
    source = migrated(tmp_path / "agentcoach.db")
    with pytest.raises(BackupRefused, match="there is no database at"):
        backup_sqlite(tmp_path / "missing.db", tmp_path / "backup.db")
    assert not (tmp_path / "missing.db").exists()  # looking did not create an empty one
    with pytest.raises(BackupRefused, match="is the database itself"):
        backup_sqlite(source, source, force=True)
    with pytest.raises(BackupRefused, match="cannot write"):
        backup_sqlite(source, tmp_path / "no" / "such" / "folder.db")


def test_the_pg_dump_line_leaves_the_password_and_the_driver_out() -> None:
    line = pg_dump_command("postgresql+asyncpg://coach:s3cret@db.internal:5433/agentcoach", Path("/backups/a b.dump"))
    assert line == "pg_dump --format=custom '--file=/backups/a b.dump' postgresql://coach@db.internal:5433/agentcoach"


def test_the_command_backs_up_refuses_to_overwrite_and_points_postgres_to_pg_dump(tmp_path: Path) -> None:
    source = migrated(tmp_path / "data" / "agentcoach.db")
    url = f"sqlite+aiosqlite:///{source}"
    made = run_agentcoach(tmp_path, "db", "backup", "copy.db", DATABASE_URL=url)
    assert made.returncode == 0, made.stderr
    [line] = made.stdout.splitlines()
    assert line.startswith(f"agentcoach: backed up {source} to copy.db: ") and ", 0 agents, integrity ok" in line
    again = run_agentcoach(tmp_path, "db", "backup", "copy.db", DATABASE_URL=url)
    assert (again.returncode, again.stderr) == (2, "agentcoach: copy.db exists; use --force to overwrite it\n")
    assert run_agentcoach(tmp_path, "db", "backup", "--force", "copy.db", DATABASE_URL=url).returncode == 0
    postgres = run_agentcoach(
        tmp_path, "db", "backup", "x.dump", DATABASE_URL="postgresql+asyncpg://coach:s3cret@127.0.0.1:1/agentcoach"
    )
    assert postgres.returncode == 2 and "s3cret" not in postgres.stderr + postgres.stdout
    assert postgres.stderr == (
        "agentcoach: the database is PostgreSQL; back it up with pg_dump: "
        "pg_dump --format=custom --file=x.dump postgresql://coach@127.0.0.1:1/agentcoach\n"
    )
