"""Fixtures the engine's tests share: the test database's session factory, and the engines a test starts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import session_factory
from bot.scheduler import Engine


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def processes() -> AsyncIterator[list[Engine]]:
    """The engines a test starts, stopped at the end (their ownership locks released)."""
    started: list[Engine] = []
    yield started
    for each in started:
        await each.stop()
