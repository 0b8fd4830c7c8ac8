"""Alembic environment: runs on the connection the bot hands over, or on DATABASE_URL from the settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.models import Base

target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from bot.config import load_settings
    from bot.db import engine_from_settings

    engine = engine_from_settings(load_settings())
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    asyncio.run(run_from_settings())
