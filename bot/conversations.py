"""What the bot waits for in each chat, kept in the database so a restart resumes mid-flow.

The conversation graph in one place: each flow that waits for typed input, and the steps it waits at.

- onboarding (handlers/start.py): the setup questions `bot.agents.SETUP_STEPS`, in order.
- settings (handlers/settings.py): the setting being changed (`bot.preferences.SETTINGS`; digest asks day, then
  `digest_time`).
- clients (handlers/clients/): `ClientStep` — NAME → PHONE → NEEDS → BUDGET while registering (each skippable);
  NOTE after a contact kind is chosen on the card; EDIT while one detail is retyped; CONFIRM while a question
  about a client not yet registered (a sentence as the name, a name already used) waits for its buttons.
- followup (handlers/followups.py): `FollowUpStep` — CLIENT (which client) → WHEN (what time) → CONFIRM (echoed,
  waiting for ✅ or a new time) → REPLACE (when the client already has open follow-ups: replace one, add, or
  cancel; a typed time still changes the draft); OUTCOME after ✅ Done on a nudge; MOVE after 📅 Reschedule.
- day_parts (handlers/day_parts.py): HOUR, the new hour of the part of day picked on /settings → 🔔 → 🌗.
- reflect (handlers/reflections.py): one step per question of `bot.reflections.QUESTIONS`, in order, and
  `edit_<question>` while one answer of a finished reflection is retyped.
- free_text (handlers/free_text.py): `FreeTextStep.OFFER` — a plain message was read and its actions offered as
  buttons; the message (and what was read from it) waits here for the press. Typing again reads the new message.
- team (handlers/team.py): `TeamStep.NAME` — an admin pressed ➕ New team and types the team's name.
- showing (handlers/showing_review.py): `note` — 📝 on a showing's review waits for one typed or spoken note.
- delete_me (handlers/data.py): `DeleteStep.CONFIRM` — /delete_me listed what would be erased and waits for the
  typed word; anything else typed cancels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, bindparam, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from bot.db import upsert_per_dialect
from bot.models import ConversationState


class Flow(StrEnum):
    ONBOARDING = "onboarding"
    SETTINGS = "settings"
    CLIENTS = "clients"
    FOLLOWUP = "followup"
    REFLECT = "reflect"
    DAY_PARTS = "day_parts"
    FREE_TEXT = "free_text"
    TEAM = "team"
    DELETE_ME = "delete_me"
    SHOWING = "showing"


class ClientStep(StrEnum):
    NAME = "name"
    PHONE = "phone"
    NEEDS = "needs"
    BUDGET = "budget"
    NOTE = "note"
    EDIT = "edit"
    CONFIRM = "confirm"


class FollowUpStep(StrEnum):
    CLIENT = "client"
    WHEN = "when"
    CONFIRM = "confirm"
    OUTCOME = "outcome"
    MOVE = "move"
    REPLACE = "replace"


class FreeTextStep(StrEnum):
    OFFER = "offer"


class TeamStep(StrEnum):
    NAME = "name"


class DeleteStep(StrEnum):
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Waiting:
    """A flow ('onboarding', 'settings', …) expecting typed input at `step`."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


# What this transaction already knows a chat waits for (read with the agent, or just written): chat id → Waiting
# or None, with the transaction it holds for. Saves the read on most updates of a flow.
_KNOWN = "agentcoach_waiting"


def known(session: AsyncSession, chat_id: int, waiting: Waiting | None) -> None:
    """Note what `chat_id` waits for as of now in the session's transaction (the row was read or written)."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_KNOWN)
    if held is None or held[0] is not transaction:
        chats: dict[int, Waiting | None] = {}
        held = session.info[_KNOWN] = (transaction, chats)
    held[1][chat_id] = waiting


async def waiting_for(session: AsyncSession, chat_id: int) -> Waiting | None:
    held = session.info.get(_KNOWN)
    if held is not None and held[0] is session.sync_session.get_transaction() and chat_id in held[1]:
        waiting = held[1][chat_id]
        return None if waiting is None else Waiting(waiting.flow, waiting.step, dict(waiting.data))
    state = await session.get(ConversationState, chat_id)
    if state is None:
        return None
    return Waiting(state.flow, state.step, dict(state.data or {}))


# What a chat waits for is written with plain statements on the table, not the ORM's INSERT and DELETE of objects
# (which look for the row among the session's objects), built once: most updates of a flow run one of them.
_WAITING: Table = ConversationState.__table__  # type: ignore[assignment]
_WAITING_COLUMNS = ("chat_id", "flow", "step", "data", "updated_at")
_STOP_WAITING = delete(_WAITING).where(_WAITING.c.chat_id == bindparam("chat_id"))


def _upsert_waiting(insert: Callable[[Any], Any]) -> Any:
    statement = insert(_WAITING).values(
        {name: bindparam(name, type_=_WAITING.c[name].type) for name in _WAITING_COLUMNS}
    )
    return statement.on_conflict_do_update(
        index_elements=[_WAITING.c.chat_id], set_={name: statement.excluded[name] for name in _WAITING_COLUMNS[1:]}
    )


_UPSERT_WAITING = upsert_per_dialect(_upsert_waiting)


async def wait_for(session: AsyncSession, chat_id: int, waiting: Waiting, now: datetime) -> None:
    """Remember what the chat's next message answers; one flow at a time, the newest wins.

    One upsert, not a read and then a write: a statement less on most updates of a flow."""
    values = {"chat_id": chat_id, "flow": waiting.flow, "step": waiting.step, "data": dict(waiting.data)}
    await session.execute(_UPSERT_WAITING(session), values | {"updated_at": now})
    cached = session.sync_session.identity_map.get(identity_key(ConversationState, chat_id))
    if cached is not None:  # a row read earlier in this transaction shows what is stored now
        await session.refresh(cached)
    known(session, chat_id, Waiting(waiting.flow, waiting.step, dict(waiting.data)))


async def stop_waiting(session: AsyncSession, chat_id: int) -> bool:
    """Forget any flow in the chat; True if there was one."""
    result = await session.execute(_STOP_WAITING, {"chat_id": chat_id})
    cached = session.sync_session.identity_map.get(identity_key(ConversationState, chat_id))
    if cached is not None:  # a row read earlier in this transaction is gone
        session.expunge(cached)
    known(session, chat_id, None)
    return bool(getattr(result, "rowcount", 0))
