"""What the bot waits for in each chat, kept in the database so a restart resumes mid-flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import ConversationState


@dataclass(frozen=True)
class Waiting:
    """A flow ('onboarding', 'settings', …) expecting typed input at `step`."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


async def waiting_for(session: AsyncSession, chat_id: int) -> Waiting | None:
    state = await session.get(ConversationState, chat_id)
    if state is None:
        return None
    return Waiting(state.flow, state.step, dict(state.data or {}))


async def wait_for(session: AsyncSession, chat_id: int, waiting: Waiting, now: datetime) -> None:
    """Remember what the chat's next message answers; one flow at a time, the newest wins."""
    state = await session.get(ConversationState, chat_id)
    if state is None:
        state = ConversationState(chat_id=chat_id, flow=waiting.flow, step=waiting.step, updated_at=now)
        session.add(state)
    state.flow, state.step, state.data, state.updated_at = waiting.flow, waiting.step, dict(waiting.data), now
    await session.flush()


async def stop_waiting(session: AsyncSession, chat_id: int) -> bool:
    """Forget any flow in the chat; True if there was one."""
    result = await session.execute(delete(ConversationState).where(ConversationState.chat_id == chat_id))
    return bool(getattr(result, "rowcount", 0))
