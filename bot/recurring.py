"""Deliveries that come back on a schedule of the agent's own: the daily tip, the reflection prompt, the
weekly digest, the morning warning about clients going cold (bot.stale), and for a team lead the weekly team
digest.

Each kind has one rule, "when is the next one after this instant", computed from the agent's settings in their
zone (`bot.timezones.next_occurrence`). At most one is waiting per agent and kind, and the database holds that
invariant (a partial unique index, bot.models.ONE_WAITING_KINDS): every insert here is INSERT … ON CONFLICT DO
NOTHING, so two processes that start together, or a settings change racing a send, still leave one. A settings
change cancels the waiting one and schedules the recomputed one; a sent one schedules the next (`after_sent`,
right after its send is committed). The team digest's rule reads the lead's membership row (bot.team_view), so
it has its own path here: an agent who is no lead (any more) gets none scheduled and a waiting one cancelled. A bot
that was down for days sends one late tip, not one per missed day, and an agent who blocked the bot and comes back
gets their next occurrences, not the stale ones (`resume_agent`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.models import WAITING_STATUSES, Agent, Client, Delivery, TeamMember
from bot.scheduler import Planned, cancel_waiting, resume_held, schedule_once, schedule_once_many
from bot.stale import next_warning
from bot.statuses import DeliveryKind, Stage, TeamRole
from bot.team_view import lead_membership, team_digest_due
from bot.timezones import next_occurrence

DAILY_TIP = DeliveryKind.TIP
REFLECTION = DeliveryKind.REFLECTION
DIGEST = DeliveryKind.DIGEST
TEAM_DIGEST = DeliveryKind.TEAM_DIGEST
STALE_WARNING = DeliveryKind.STALE_WARNING

NextDue = Callable[[Agent, datetime], datetime | None]


def next_daily_tip(agent: Agent, after: datetime) -> datetime | None:
    """The agent's tip time on their next work day; None while the tip is off."""
    if agent.tip_time is None or not agent.work_days:
        return None
    return next_occurrence(after, agent.tip_time, agent.timezone, agent.work_days)


def next_reflection_prompt(agent: Agent, after: datetime) -> datetime | None:
    """The agent's reflection time on their next work day."""
    if not agent.work_days:
        return None
    return next_occurrence(after, agent.reflection_time, agent.timezone, agent.work_days)


def next_digest(agent: Agent, after: datetime) -> datetime | None:
    """The agent's digest day (ISO weekday) at their digest time, the next one after `after`; every agent has one
    (a week the agent did not work gets its one short line from the renderer, not silence)."""
    return next_occurrence(after, agent.digest_time, agent.timezone, str(agent.digest_weekday))


RULES: dict[str, NextDue] = {DAILY_TIP: next_daily_tip, REFLECTION: next_reflection_prompt, DIGEST: next_digest}
# Who can have one at all, in SQL: the start-up check then never loads the agents who turned a kind off.
ELIGIBLE: dict[str, ColumnElement[bool]] = {
    DAILY_TIP: Agent.tip_time.is_not(None) & (Agent.work_days != ""),
    REFLECTION: Agent.work_days != "",
    DIGEST: Agent.digest_weekday.between(1, 7),
}
# Every recurring kind: the agent's own (RULES), the team lead's digest, and the going-cold warning, which is
# waiting only for a morning that has someone to warn (its time is read from the agent's clients: bot.stale).
KINDS: tuple[str, ...] = (*RULES, TEAM_DIGEST, STALE_WARNING)
# Who may need a going-cold warning, in SQL: an agent with a client who is neither archived nor lost.
WATCHING = exists().where(Client.agent_id == Agent.id, Client.archived.is_(False), Client.stage != Stage.LOST)


async def next_due(session: AsyncSession, kind: str, agent: Agent, after: datetime) -> datetime | None:
    """The next occurrence of `kind` for the agent; the team digest only while they lead a team."""
    if kind == TEAM_DIGEST:
        lead = await lead_membership(session, agent.id)
        return None if lead is None else team_digest_due(agent, lead, after)
    if kind == STALE_WARNING:
        return await next_warning(session, agent, after)
    return RULES[kind](agent, after)


async def watch(session: AsyncSession, agent_id: int, now: datetime, *, sooner: bool = True) -> None:
    """When one of the agent's clients crosses the rule may have changed (a client registered, restored, moved to
    another stage or imported; a contact; a follow-up done): the warning waits for the first morning that has
    someone to warn. A contact or a follow-up done only moves a crossing later (`sooner=False`): then a warning
    already waiting stays as it is (at its time it lists whoever still crosses, or is skipped and moved on)."""
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.setup_step is not None or not agent.active:
        return  # onboarding's end, or the agent's return, schedules it
    waiting = (
        await session.execute(
            select(Delivery.due_at).where(
                Delivery.agent_id == agent_id, Delivery.kind == STALE_WARNING, Delivery.status.in_(WAITING_STATUSES)
            )
        )
    ).scalar_one_or_none()
    if waiting is not None and not sooner:
        return
    due = await next_warning(session, agent, now)
    if due is None or (waiting is not None and waiting <= due):
        return
    await cancel_waiting(session, agent_id, STALE_WARNING)
    await schedule_once(session, agent_id=agent_id, kind=STALE_WARNING, due_at=due, now=now)


async def reschedule(session: AsyncSession, agent: Agent, now: datetime, kinds: Iterable[str] | None = None) -> None:
    """Replace what is waiting of each recurring kind with the occurrence the agent's settings give now."""
    for kind in kinds or KINDS:
        await cancel_waiting(session, agent.id, kind)
        due = await next_due(session, kind, agent, now)
        if due is not None:
            await schedule_once(session, agent_id=agent.id, kind=kind, due_at=due, now=now)


async def resume_agent(session: AsyncSession, agent: Agent, now: datetime) -> None:
    """The agent wrote again after blocking the bot: everything still relevant goes out (held follow-up nudges,
    late), and every recurring kind they have on is scheduled afresh from now (its held one is stale)."""
    await resume_held(session, agent.id, except_kinds=list(KINDS))
    if agent.setup_step is None:  # an agent still in onboarding gets theirs when it completes
        await reschedule(session, agent, now)


async def after_sent(session: AsyncSession, delivery: Delivery, agent: Agent, now: datetime) -> None:
    """The engine's hook for a recurring kind: the next one, counted from now (so a late one is not repeated)."""
    await reschedule(session, agent, max(now, delivery.due_at), [delivery.kind])


async def ensure_scheduled(sessions: async_sessionmaker[AsyncSession], now: datetime, batch: int = 2000) -> int:
    """At start-up: every agent who should have a recurring delivery waiting has one (a failed send, a
    delivery lost to a bug, the first start after an upgrade that added a kind). Returns how many were added;
    another process doing the same at the same moment adds none of the same (the unique index).

    Batches of `batch` agents, each in its own short transaction with one bulk insert, so that on a large team
    the sweep (and SQLite's single writer) gets its turn between them.
    """
    added = 0
    for kind, rule in RULES.items():
        waiting = exists().where(
            Delivery.agent_id == Agent.id, Delivery.kind == kind, Delivery.status.in_(WAITING_STATUSES)
        )
        after = 0
        while True:
            async with sessions() as session, session.begin():
                agents = list(
                    (
                        await session.execute(
                            select(Agent)
                            .where(Agent.id > after, Agent.setup_step.is_(None), Agent.active, ELIGIBLE[kind], ~waiting)
                            .order_by(Agent.id)
                            .limit(batch)
                        )
                    ).scalars()
                )
                planned = [Planned(a.id, kind, due) for a in agents if (due := rule(a, now)) is not None]
                added += await schedule_once_many(session, planned, now)
            if len(agents) < batch:
                break
            after = agents[-1].id
            await asyncio.sleep(0)
    return added + await _ensure_team_digests(sessions, now, batch) + await _ensure_stale_warnings(sessions, now, batch)


async def _ensure_team_digests(sessions: async_sessionmaker[AsyncSession], now: datetime, batch: int) -> int:
    """`ensure_scheduled` for the team digest: every lead without one waiting, with their membership row."""
    waiting = exists().where(
        Delivery.agent_id == Agent.id, Delivery.kind == TEAM_DIGEST, Delivery.status.in_(WAITING_STATUSES)
    )
    added, after = 0, 0
    while True:
        async with sessions() as session, session.begin():
            leads = (
                await session.execute(
                    select(Agent, TeamMember)
                    .join(TeamMember, TeamMember.agent_id == Agent.id)
                    .where(
                        Agent.id > after,
                        TeamMember.role == TeamRole.LEAD,
                        Agent.setup_step.is_(None),
                        Agent.active,
                        ~waiting,
                    )
                    .order_by(Agent.id)
                    .limit(batch)
                )
            ).all()
            planned = [Planned(agent.id, TEAM_DIGEST, team_digest_due(agent, lead, now)) for agent, lead in leads]
            added += await schedule_once_many(session, planned, now)
        if len(leads) < batch:
            return added
        after = leads[-1][0].id
        await asyncio.sleep(0)


async def _ensure_stale_warnings(sessions: async_sessionmaker[AsyncSession], now: datetime, batch: int) -> int:
    """`ensure_scheduled` for the going-cold warning: every agent with a client to watch and none waiting gets the
    first morning that has someone to warn (one query per such agent; one whose clients are all past their
    crossing, or whose rule is all off, gets none)."""
    waiting = exists().where(
        Delivery.agent_id == Agent.id, Delivery.kind == STALE_WARNING, Delivery.status.in_(WAITING_STATUSES)
    )
    added, after = 0, 0
    while True:
        async with sessions() as session, session.begin():
            agents = list(
                (
                    await session.execute(
                        select(Agent)
                        .where(Agent.id > after, Agent.setup_step.is_(None), Agent.active, WATCHING, ~waiting)
                        .order_by(Agent.id)
                        .limit(batch)
                    )
                ).scalars()
            )
            planned = [
                Planned(agent.id, STALE_WARNING, due)
                for agent in agents
                if (due := await next_warning(session, agent, now)) is not None
            ]
            added += await schedule_once_many(session, planned, now)
        if len(agents) < batch:
            return added
        after = agents[-1].id
        await asyncio.sleep(0)
