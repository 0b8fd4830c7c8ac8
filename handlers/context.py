"""What every handler needs for one update: a database session, the agent, their language, and now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import ContextTypes

from bot.agents import NewAgent, get_or_register
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import from_telegram, t
from bot.models import Agent


@dataclass(frozen=True)
class Services:
    """Long-lived things the handlers share, stored once in application.bot_data."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock


SERVICES_KEY = "services"


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found = context.application.bot_data[SERVICES_KEY]
    assert isinstance(found, Services)
    return found


@dataclass
class Turn:
    """One update being handled: everything here belongs to the same transaction."""

    session: AsyncSession
    agent: Agent
    now: datetime
    services: Services

    @property
    def lang(self) -> str:
        return self.agent.language

    def t(self, key: str, /, **values: object) -> str:
        return t(self.agent.language, key, **values)


@asynccontextmanager
async def turn(update: Update, context: ContextTypes.DEFAULT_TYPE) -> AsyncIterator[Turn]:
    """Open a transaction and load (or register) the agent who sent the update; commits on success."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        raise RuntimeError("update without a user or chat reached an agent handler")
    now = svc.clock.now()
    async with svc.sessions() as session, session.begin():
        who = NewAgent(
            telegram_user_id=user.id,
            chat_id=chat.id,
            display_name=user.full_name or str(user.id),
            language=from_telegram(user.language_code, svc.settings.default_language),
            timezone=svc.settings.default_timezone,
        )
        agent = await get_or_register(session, who, now)
        yield Turn(session, agent, now, svc)
