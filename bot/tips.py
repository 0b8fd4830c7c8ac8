"""Which tip an agent gets next, and what they did with the ones they saw (ratings, saved).

Rotation: every tip (of the library, or of a topic) is shown once before any is shown again, in an order of
the agent's own, so two agents on one team do not get the same tip on the same day. After the first round,
tips rated 👎 are skipped and tips rated 👍 come round twice as often.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import insert_or_skip, upsert_per_dialect
from bot.models import TipState
from bot.tip_library import Library, Tip

UP, NONE, DOWN = 1, 0, -1


_TIP_STATES: Table = TipState.__table__  # type: ignore[assignment]
_STATES = select(TipState).where(TipState.agent_id == bindparam("agent_id"))  # built once: /tip runs it each time


async def states(session: AsyncSession, agent_id: int) -> dict[str, TipState]:
    rows = (await session.execute(_STATES, {"agent_id": agent_id})).scalars()
    return {state.tip_id: state for state in rows}


def _personal_order(agent_id: int, tips: Sequence[Tip]) -> dict[str, int]:
    """A stable shuffle per agent: the same agent always walks the library in the same order."""
    ids = [tip.id for tip in tips]
    random.Random(f"agentcoach-tips-{agent_id}").shuffle(ids)
    return {tip_id: position for position, tip_id in enumerate(ids)}


def choose(
    library: Library, agent_id: int, seen: dict[str, TipState], topic: str | None = None, avoid: str | None = None
) -> Tip | None:
    """The next tip for the agent (from `topic` if given); None if every candidate was rated down.

    `avoid` is the tip on screen: ➡️ Another must not show it again when another candidate exists.
    """
    candidates = library.tips_in(topic) if topic else list(library.tips)
    order = _personal_order(agent_id, library.tips)

    def shown(tip: Tip) -> int:
        state = seen.get(tip.id)
        return state.shown if state else 0

    def rating(tip: Tip) -> int:
        state = seen.get(tip.id)
        return state.rating if state else NONE

    # The first round shows everything once; after it, 👎 tips are out.
    unseen = [tip for tip in candidates if shown(tip) == 0]
    candidates = unseen or [tip for tip in candidates if rating(tip) != DOWN]
    if len(candidates) > 1 and avoid is not None:
        candidates = [tip for tip in candidates if tip.id != avoid]
    if not candidates:
        return None

    def last(tip: Tip) -> float:
        state = seen.get(tip.id)
        return state.last_shown_at.timestamp() if state and state.last_shown_at else 0.0

    # Fewest showings first (a 👍 tip counts half), then the longest unseen, then the agent's own order.
    return min(candidates, key=lambda tip: (shown(tip) / (2 if rating(tip) == UP else 1), last(tip), order[tip.id]))


def choose_any(library: Library, agent_id: int, seen: dict[str, TipState]) -> Tip | None:
    """The next tip of the whole library; if every tip was rated down, the rotation starts over regardless,
    because a daily tip or a check-in must still bring one. None only for an empty library."""
    return choose(library, agent_id, seen) or choose(library, agent_id, {})


async def _state(session: AsyncSession, agent_id: int, tip_id: str) -> TipState:
    """The agent's row for a tip, created if missing. The daily tip's bookkeeping and the agent's own /tip or 👍
    can create it at the same moment in two transactions: the insert yields to the other's row instead of failing."""
    state = await session.get(TipState, (agent_id, tip_id))
    if state is None:
        await session.execute(
            insert_or_skip(session, TipState)
            .values(agent_id=agent_id, tip_id=tip_id, shown=0, rating=NONE)
            .on_conflict_do_nothing()
        )
        state = await session.get(TipState, (agent_id, tip_id), populate_existing=True)
        assert state is not None
    return state


def _count_shown(insert: Callable[[Any], Any]) -> Any:
    statement = insert(_TIP_STATES).values(
        agent_id=bindparam("agent_id"),
        tip_id=bindparam("tip_id"),
        shown=1,
        rating=NONE,
        last_shown_at=bindparam("now", type_=TipState.last_shown_at.type),
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[TipState.agent_id, TipState.tip_id],
        set_={"shown": TipState.shown + 1, "last_shown_at": bindparam("now", type_=TipState.last_shown_at.type)},
    )
    return select(TipState).from_statement(upsert.returning(*_TIP_STATES.c))


def _rate(insert: Callable[[Any], Any]) -> Any:
    rating = bindparam("rating", type_=TipState.rating.type)
    statement = insert(TipState).values(
        agent_id=bindparam("agent_id"), tip_id=bindparam("tip_id"), shown=0, rating=rating
    )
    return statement.on_conflict_do_update(
        index_elements=[TipState.agent_id, TipState.tip_id],
        set_={"rating": case((TipState.rating == rating, NONE), else_=rating)},
    ).returning(TipState)


# /tip and 👍/👎 run these each time: built once per dialect (bot.db.upsert_per_dialect), as plain upserts on the
# table whose returned row the ORM loads as the agent's TipState (the ORM's own INSERT … RETURNING of a mapped
# class costs twice as much CPU, in its handling of the values as objects' attributes).
_COUNT_SHOWN = upsert_per_dialect(_count_shown)
_RATE = upsert_per_dialect(_rate)
_AS_STORED = {"populate_existing": True}  # a state read earlier in this transaction shows the new values


async def mark_shown(session: AsyncSession, agent_id: int, tip_id: str, now: datetime) -> TipState:
    """Count one more showing, as one atomic upsert (two showings at once both count); returns the row as stored
    now (a state read earlier in this transaction shows the new count too)."""
    values = {"agent_id": agent_id, "tip_id": tip_id, "now": now}
    stored: TipState = (await session.scalars(_COUNT_SHOWN(session), values, execution_options=_AS_STORED)).one()
    return stored


async def next_tip(
    session: AsyncSession,
    library: Library,
    agent_id: int,
    now: datetime,
    topic: str | None = None,
    avoid: str | None = None,
) -> tuple[Tip, TipState] | None:
    """Choose the next tip and count it as shown (the caller sends it in the same transaction's reply); the tip
    and the agent's row for it."""
    tip = choose(library, agent_id, await states(session, agent_id), topic, avoid)
    if tip is None:
        return None
    return tip, await mark_shown(session, agent_id, tip.id, now)


async def rate(session: AsyncSession, agent_id: int, tip_id: str, rating: int) -> TipState:
    """Set 👍 or 👎; pressing the same again takes the rating back. Returns the row, with the rating now in force.

    One upsert (the row may not exist yet: a tip rated from an old message), the new rating decided in it."""
    values = {"agent_id": agent_id, "tip_id": tip_id, "rating": rating}
    stored: TipState = (await session.scalars(_RATE(session), values, execution_options=_AS_STORED)).one()
    return stored


async def toggle_saved(session: AsyncSession, agent_id: int, tip_id: str, now: datetime) -> bool:
    """⭐ saves a tip, pressing again unsaves it. Returns whether it is saved now."""
    state = await _state(session, agent_id, tip_id)
    state.saved_at = None if state.saved_at else now
    return state.saved_at is not None


async def saved_tips(session: AsyncSession, library: Library, agent_id: int) -> list[Tip]:
    """Saved tips, newest first; tips no longer in the library are left out."""
    rows = (
        await session.execute(
            select(TipState.tip_id)
            .where(TipState.agent_id == agent_id, TipState.saved_at.is_not(None))
            .order_by(TipState.saved_at.desc(), TipState.tip_id)
        )
    ).scalars()
    return [tip for tip in (library.tip(tip_id) for tip_id in rows) if tip is not None]


async def state_of(session: AsyncSession, agent_id: int, tip_id: str) -> TipState | None:
    return await session.get(TipState, (agent_id, tip_id))
