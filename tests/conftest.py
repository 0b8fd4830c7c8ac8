"""Fixtures: a real database on both backends (SQLite file, PostgreSQL), a controlled clock, and the bot
wired to the in-process Bot API.

PostgreSQL tests run against TEST_POSTGRES_URL (default: the local server, database `test`). Locally they are
skipped when no server answers; under CI (CI=true, CI=1 or CI=yes, as CI services set it) an unreachable server
fails the run instead, and so does any other skipped test: a skip in CI means something was not tested.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import ManualClock
from bot.config import Settings
from bot.crypto import Keyring, attach
from bot.data_keys import unlock
from bot.db import create_engine, upgrade
from bot.models import Base
from tests.support import Harness, RenderedTexts, start_harness

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
# Wednesday 2026-11-25 09:00 in Shanghai.
START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


_skipped_in_ci: list[pytest.TestReport] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        _skipped_in_ci.append(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test fails the session: CI must not pass by not running a backend or the e2e tests."""
    if _skipped_in_ci and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped_in_ci:
        terminalreporter.write_line(
            f"CI is set, so {len(_skipped_in_ci)} skipped test(s) fail the run (a skip in CI is a test not run):",
            red=True,
            bold=True,
        )
        for report in _skipped_in_ci:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            terminalreporter.write_line(f"  {report.nodeid}: {reason}", red=True)


def _with_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _create_postgres_database() -> str:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"agentcoach_test_{uuid.uuid4().hex[:10]}"
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = _with_database(POSTGRES_URL, name)
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return url


async def _drop_postgres_database(url: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    try:
        url = asyncio.run(_create_postgres_database())
    except Exception as error:  # no server, no permission: the reason goes into the skip/fail line
        message = f"PostgreSQL at {POSTGRES_URL} is not usable: {error!r}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield url
    asyncio.run(_drop_postgres_database(url))


# TEST_BACKENDS=sqlite runs the backend-parametrised tests on SQLite alone (mutation testing, quick local runs).
BACKENDS = [name for name in ("sqlite", "postgresql") if name in os.environ.get("TEST_BACKENDS", name).split(",")]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/agentcoach.db"
    return str(request.getfixturevalue("postgres_url"))


# TEST_DATA_KEY=1 runs the tests with encryption at rest on (this fixed key); a test may
# also ask for it with @pytest.mark.parametrize("data_key", [TEST_KEY], indirect=True).
TEST_KEY = "V6UQCvJ-gGgfIK56G8WSo6YZeuFzb-1YG7ZE-T2EJtw="
ENCRYPTED_BY_DEFAULT = os.environ.get("TEST_DATA_KEY", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture
def data_key(request: pytest.FixtureRequest) -> str | None:
    """DATA_KEY for the test's engine and settings: None (plaintext) unless TEST_DATA_KEY or a parameter says."""
    given: str | None = getattr(request, "param", TEST_KEY if ENCRYPTED_BY_DEFAULT else None)
    return given


@pytest.fixture
async def engine(database_url: str, data_key: str | None) -> AsyncIterator[AsyncEngine]:
    """A migrated, empty database on each backend (encrypting with `data_key`, if any)."""
    engine = create_engine(database_url)
    attach(engine, Keyring.from_setting(data_key) if data_key else None)
    if database_url.startswith("sqlite"):
        await upgrade(engine)
    else:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await unlock(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(database_url: str, data_key: str | None) -> Settings:
    return Settings(_env_file=None, database_url=database_url, data_key=data_key)


@pytest.fixture
async def harness(
    engine: AsyncEngine, clock: ManualClock, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """The bot with every handler, talking to the in-process Bot API; audits every text it sent."""
    rendered = RenderedTexts()
    rendered.install(monkeypatch)
    async with start_harness(engine, clock, settings, rendered) as running:
        yield running
        running.assert_all_text_from_catalogs()
