"""Follow-ups: promises to get back to a client at a time, their nudges, and what to suggest next.

A follow-up owns one pending `Delivery` (kind "followup") while it is open; snoozing or rescheduling moves
it by cancelling that delivery and scheduling a new one, in the same transaction. Everything is looked up
through the agent who owns it, so one agent can never act on another's follow-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.bulk import insert_rows_with_ids
from bot.clients import MAX_ID, last_contact
from bot.models import Agent, Client, ContactLog, FollowUp
from bot.scheduler import Planned, cancel, schedule, schedule_many
from bot.statuses import DeliveryKind, FollowUpStatus
from bot.timezones import local_datetime, to_utc

KIND = DeliveryKind.FOLLOWUP
OPEN, DONE, CANCELLED = FollowUpStatus.OPEN, FollowUpStatus.DONE, FollowUpStatus.CANCELLED

# How soon to follow up, by the client's stage: a new lead cools fast, a closed client is checked on monthly.
CADENCE_DAYS = {"new": 1, "interested": 2, "viewing": 2, "deposit": 3, "closed": 30, "lost": 60}
EVENING = time(19, 0)
MORNING = time(9, 0)


@dataclass(frozen=True)
class Nudge:
    """What a follow-up's nudge shows, gathered in one query."""

    follow_up: FollowUp
    client: Client
    last_contact: ContactLog | None


def suggested_time(agent: Agent, stage: str, now: datetime) -> datetime:
    """The next follow-up for a client in `stage`: N local days ahead, at the agent's follow-up hour."""
    days = CADENCE_DAYS.get(stage, 1)
    day = local_datetime(now, agent.timezone).date() + timedelta(days=days)
    return to_utc(day, agent.followup_time, agent.timezone)


def snooze_options(agent: Agent, now: datetime) -> dict[str, datetime]:
    """In an hour; this evening (if still ahead); tomorrow morning — all in the agent's zone."""
    local = local_datetime(now, agent.timezone)
    options = {"hour": now + timedelta(hours=1)}
    evening = to_utc(local.date(), EVENING, agent.timezone)
    if evening > now + timedelta(minutes=30):
        options["evening"] = evening
    options["morning"] = to_utc(local.date() + timedelta(days=1), MORNING, agent.timezone)
    return options


async def add_follow_up(
    session: AsyncSession, agent: Agent, client: Client, due_at: datetime, note: str | None, now: datetime
) -> FollowUp:
    follow_up = FollowUp(
        agent_id=agent.id,
        client_id=client.id,
        due_at=due_at,
        note=(note or None),
        status=OPEN,
        created_at=now,
        updated_at=now,
    )
    session.add(follow_up)
    await session.flush()
    await schedule(session, agent_id=agent.id, kind=KIND, subject_id=follow_up.id, due_at=due_at, now=now)
    return follow_up


@dataclass(frozen=True)
class PlannedFollowUp:
    agent_id: int
    client_id: int
    due_at: datetime
    note: str | None = None


async def add_follow_ups(session: AsyncSession, planned: Sequence[PlannedFollowUp], now: datetime) -> list[int]:
    """Many follow-ups and their nudges in two bulk writes (an import, a team lead's hand-over)."""
    ids = await insert_rows_with_ids(
        session,
        FollowUp.__table__,  # type: ignore[arg-type]
        ["agent_id", "client_id", "due_at", "note", "status", "created_at", "updated_at"],
        [(p.agent_id, p.client_id, p.due_at, p.note or None, OPEN, now, now) for p in planned],
    )
    await schedule_many(
        session,
        [Planned(p.agent_id, KIND, p.due_at, follow_up_id) for p, follow_up_id in zip(planned, ids, strict=True)],
        now,
    )
    return ids


async def owned_follow_up(session: AsyncSession, agent_id: int, follow_up_id: int) -> FollowUp | None:
    """The follow-up if it belongs to this agent, else None (forged or stale buttons land here)."""
    if not 0 < follow_up_id < MAX_ID:
        return None  # a forged id the integer column could not even hold
    follow_up = await session.get(FollowUp, follow_up_id)
    return follow_up if follow_up is not None and follow_up.agent_id == agent_id else None


async def move(session: AsyncSession, follow_up: FollowUp, due_at: datetime, now: datetime) -> None:
    """Snooze or reschedule: the old nudge is cancelled and a new one scheduled, atomically."""
    await cancel(session, KIND, follow_up.id)
    follow_up.due_at, follow_up.status, follow_up.updated_at = due_at, OPEN, now
    await schedule(session, agent_id=follow_up.agent_id, kind=KIND, subject_id=follow_up.id, due_at=due_at, now=now)


async def mark_done(session: AsyncSession, follow_up: FollowUp, now: datetime) -> None:
    """Done: its pending nudge is cancelled; the outcome, if any, comes later (`set_outcome`)."""
    await cancel(session, KIND, follow_up.id)
    follow_up.status, follow_up.done_at, follow_up.updated_at = DONE, now, now


async def set_outcome(follow_up: FollowUp, outcome: str, now: datetime) -> None:
    follow_up.outcome, follow_up.updated_at = outcome, now


async def nudge_for(session: AsyncSession, follow_up_id: int) -> Nudge | None:
    follow_up = await session.get(FollowUp, follow_up_id)
    if follow_up is None:
        return None
    client = await session.get(Client, follow_up.client_id)
    if client is None:
        return None
    return Nudge(follow_up, client, await last_contact(session, client.id))


async def open_between(
    session: AsyncSession, agent_id: int, start: datetime | None, end: datetime
) -> list[tuple[FollowUp, Client]]:
    """Open follow-ups of the agent due in [start, end), earliest first, with their clients."""
    query = (
        select(FollowUp, Client)
        .join(Client, Client.id == FollowUp.client_id)
        .where(FollowUp.agent_id == agent_id, FollowUp.status == OPEN, FollowUp.due_at < end)
        .order_by(FollowUp.due_at)
    )
    if start is not None:
        query = query.where(FollowUp.due_at >= start)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def due_today(session: AsyncSession, agent: Agent, now: datetime) -> list[tuple[FollowUp, Client]]:
    """Open follow-ups due during the agent's local today (past ones included)."""
    today = local_datetime(now, agent.timezone).date()
    start = to_utc(today, time(0, 0), agent.timezone)
    end = to_utc(today + timedelta(days=1), time(0, 0), agent.timezone)
    return await open_between(session, agent.id, start, end)


async def overdue(session: AsyncSession, agent: Agent, now: datetime) -> list[tuple[FollowUp, Client]]:
    return await open_between(session, agent.id, None, now)
