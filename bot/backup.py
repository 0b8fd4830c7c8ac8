"""`agentcoach db backup PATH`: a consistent copy of the SQLite database, taken while the bot runs and writes.

The copy is made with SQLite's online backup API (`sqlite3.Connection.backup`) in one step: one read transaction,
so the copy is the database as of one instant (a pair of rows written in one transaction is both in it or
neither). The database is in WAL mode (bot.db), where a reader never blocks a writer, so the bot keeps writing
meanwhile and waits for nothing. Copying in small steps would not make it any kinder to the writer, and it does
not finish at all under steady writes: SQLite restarts a step-wise backup from the first page whenever another
connection writes (measured: 56 MiB, a commit every few ms, 1,376 restarts and no copy after 20 s; in one step
0.7 s). The copy is written beside the target as PATH.tmp, owner-only (it holds clients' phones), switched to a
rollback journal (one self-contained file), checked with `PRAGMA integrity_check`, and only then renamed onto
PATH, so PATH is either the old file or a complete, checked copy, never half of one.

PostgreSQL has its own tool for this, pg_dump; `pg_dump_command` says how to call it for the configured database.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupRefused(Exception):
    """The backup cannot be made as asked; the message is the one line an operator needs."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes
    agents: int
    seconds: float

    def summary(self, source: Path) -> str:
        agents = "1 agent" if self.agents == 1 else f"{self.agents} agents"
        return (
            f"backed up {source} to {self.path}: {self.size / 2**20:.1f} MiB, {agents}, "
            f"integrity ok, in {self.seconds:.1f} s"
        )


def backup_sqlite(source: Path, target: Path, *, force: bool = False) -> BackupResult:
    """Copy the database at `source` to `target` (see the module's docstring); raises BackupRefused."""
    started = time.monotonic()
    if not source.is_file():
        raise BackupRefused(f"there is no database at {source}")
    if target.exists() and not force:
        raise BackupRefused(f"{target} exists; use --force to overwrite it")
    if target.is_dir():
        raise BackupRefused(f"{target} is a folder; give the backup's file name")
    if target.resolve() == source.resolve():
        raise BackupRefused(f"{target} is the database itself")
    partial = target.with_name(target.name + ".tmp")
    try:
        _new_private_file(partial)
        try:
            agents = _copy_and_check(source, partial)
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
    except OSError as error:
        raise BackupRefused(f"cannot write {target}: {error.strerror or error}") from None
    return BackupResult(target, target.stat().st_size, agents, time.monotonic() - started)


def _new_private_file(path: Path) -> None:
    """An empty owner-only file (an empty file is an empty SQLite database); a stale one from a run that died
    is replaced."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _copy_and_check(source: Path, partial: Path) -> int:
    """The one-step copy, made a single file and checked; returns the copy's agent count."""
    try:
        # mode=rw: a missing file is an error, never a new empty database.
        origin_uri = f"{source.resolve().as_uri()}?mode=rw"
        with (
            closing(sqlite3.connect(origin_uri, uri=True, timeout=30)) as origin,
            closing(sqlite3.connect(partial)) as copy,
        ):
            origin.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal or -shm to carry along
            problems = [row[0] for row in copy.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupRefused(f"the copy failed its integrity check: {'; '.join(problems[:3])}")
            agents = int(copy.execute("SELECT count(*) FROM agents").fetchone()[0])
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())  # on disk before the rename makes it the backup
    except sqlite3.Error as error:
        raise BackupRefused(f"cannot back up {source}: {error}") from None
    return agents


def pg_dump_command(database_url: str, target: Path) -> str:
    """The pg_dump call that backs up the configured PostgreSQL database (the password is left out: pg_dump
    reads it from PGPASSWORD or ~/.pgpass)."""
    given = make_url(database_url)
    url = URL.create("postgresql", given.username, None, given.host, given.port, given.database, given.query)
    return shlex.join(["pg_dump", "--format=custom", f"--file={target}", url.render_as_string(hide_password=False)])
