"""Agents and their settings: registration on first contact, onboarding progress, edits from /settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import Waiting, known
from bot.models import Agent, ConversationState
from bot.recurring import resume_agent

DEFAULT_REFLECTION_TIME: Final = time(21, 0)
# Agents work weekends; Monday to Saturday is the common roster, with one rest day.
DEFAULT_WORK_DAYS: Final = "123456"
DEFAULT_DIGEST_WEEKDAY: Final = 7
DEFAULT_DIGEST_TIME: Final = time(20, 0)
DEFAULT_TIP_TIME: Final = time(8, 30)
DEFAULT_FOLLOWUP_TIME: Final = time(10, 0)

# Onboarding asks these in order; Agent.setup_step holds the one still to answer.
SETUP_STEPS: Final = ("language", "timezone", "reflection", "workdays", "digest_day", "digest_time", "tip")


def next_setup_step(step: str) -> str | None:
    index = SETUP_STEPS.index(step)
    return SETUP_STEPS[index + 1] if index + 1 < len(SETUP_STEPS) else None


@dataclass(frozen=True)
class NewAgent:
    """Who wrote to us for the first time, as Telegram tells it."""

    telegram_user_id: int
    chat_id: int
    display_name: str
    language: str
    timezone: str


# Every update runs this, so it is built once (building a select and its cache key costs more than running it),
# and it brings what the agent's chat waits for along (a statement less for every typed answer and press).
_BY_USER = (
    select(Agent, ConversationState.flow, ConversationState.step, ConversationState.data)
    .outerjoin(ConversationState, ConversationState.chat_id == Agent.chat_id)
    .where(Agent.telegram_user_id == bindparam("user_id"))
)


async def find_agent(session: AsyncSession, telegram_user_id: int) -> Agent | None:
    row = (await session.execute(_BY_USER, {"user_id": telegram_user_id})).one_or_none()
    if row is None:
        return None
    agent: Agent = row[0]
    flow, step, data = row[1:]
    known(session, agent.chat_id, Waiting(flow, step, dict(data or {})) if flow is not None else None)
    return agent


async def get_or_register(session: AsyncSession, who: NewAgent, now: datetime) -> Agent:
    """The agent for this Telegram user, registered with defaults on first contact."""
    agent = await find_agent(session, who.telegram_user_id)
    if agent is None:
        return await register(session, who, now)
    await returned(session, agent, who, now)
    return agent


async def register(session: AsyncSession, who: NewAgent, now: datetime) -> Agent:
    """A new agent with the default settings, onboarding still to do."""
    agent = Agent(
        telegram_user_id=who.telegram_user_id,
        chat_id=who.chat_id,
        display_name=who.display_name[:128],
        language=who.language,
        timezone=who.timezone,
        reflection_time=DEFAULT_REFLECTION_TIME,
        work_days=DEFAULT_WORK_DAYS,
        digest_weekday=DEFAULT_DIGEST_WEEKDAY,
        digest_time=DEFAULT_DIGEST_TIME,
        tip_time=DEFAULT_TIP_TIME,
        followup_time=DEFAULT_FOLLOWUP_TIME,
        setup_step=SETUP_STEPS[0],
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    await session.flush()
    return agent


async def returned(session: AsyncSession, agent: Agent, who: NewAgent, now: datetime) -> None:
    """A known agent wrote: deliver to the chat they wrote from, under the name they have now."""
    if agent.active and agent.chat_id == who.chat_id and agent.display_name == who.display_name[:128]:
        return
    # Writing to us again means they unblocked the bot (or moved chats): deliver there again.
    was_active = agent.active
    agent.active = True
    if not was_active:
        await resume_agent(session, agent, now)
    agent.chat_id = who.chat_id
    agent.display_name = who.display_name[:128]
    agent.updated_at = now


def change_settings(agent: Agent, now: datetime, **values: object) -> None:
    """Apply validated setting values; callers parse and validate first."""
    for name, value in values.items():
        if name not in EDITABLE_FIELDS:
            raise ValueError(f"{name} is not an editable setting")
        setattr(agent, name, value)
    agent.updated_at = now


EDITABLE_FIELDS: Final = frozenset(
    {
        "language",
        "timezone",
        "timezone_place",
        "reflection_time",
        "work_days",
        "digest_weekday",
        "digest_time",
        "tip_time",
        "followup_time",
        "day_part_hours",
        "stale_days",
    }
)


def advance_setup(agent: Agent, answered: str, now: datetime) -> str | None:
    """Mark onboarding step `answered` done; returns the next step, or None when setup is complete."""
    agent.setup_step = next_setup_step(answered)
    agent.updated_at = now
    return agent.setup_step


def restart_setup(agent: Agent, now: datetime) -> None:
    """Walk through onboarding again; current values stay and are offered as the defaults."""
    agent.setup_step = SETUP_STEPS[0]
    agent.updated_at = now
