"""PostgreSQL connections are pinged before use only after standing idle: no round trip in steady use, and a
connection the server dropped while idle is replaced before any statement meets it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from bot import db
from bot.db import create_engine


async def test_a_connection_in_steady_use_is_not_pinged_and_an_idle_dropped_one_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    pings: list[Any] = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return do_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        async with engine.connect() as connection:
            first_pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert len(pings) == 1  # a new connection is checked once
        for _ in range(3):
            async with engine.connect() as connection:
                assert (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one() == first_pid
        assert len(pings) == 1  # just used: no ping

        other = create_engine(postgres_url)
        try:
            async with other.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
        finally:
            await other.dispose()
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had stood idle long enough
        async with engine.connect() as connection:
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert pid != first_pid  # the dead connection failed its ping and a new one took its place
    finally:
        await engine.dispose()
