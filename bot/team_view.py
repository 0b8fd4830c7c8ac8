"""The team lead's view: each member's week as counts, and the team's week as one chart.

A lead sees how the team is doing, never what anyone wrote or who their clients are: for each member, reflections
finished this week and the streak, follow-ups done and still overdue, contacts logged, clients by stage and the
last day they did anything, and those counts summed per day for the chart (`bot.chart`, as the weekly digest
draws it; no mood line, which is how someone felt, not a count). Nothing here selects a reflection's text, a
client's name or phone, or a note: the statements below name the columns they read, and none of those is one.

The week is one set of dates, Monday to Sunday (the lead's week), and each member's days are their own local
days of it (`bot.week.bounds` in the member's zone), so a member in London and one in Shanghai are counted over
the same dates, each by their own clock. Counting a team takes a handful of grouped statements whatever its size:
the members, the finished reflections (streaks included), clients by stage, the last activity, and per distinct
time zone one for follow-ups and one for contacts.

The weekly team digest goes at the lead's chosen weekday and time (their membership row), or with the lead's own
weekly digest when they chose none; `bot.recurring` schedules it like the other recurring kinds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import case, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import Agent, Client, ContactLog, FollowUp, Reflection, Team, TeamMember
from bot.reflections import count_streak
from bot.statuses import CONTACT_KINDS, STAGES, FollowUpStatus, ReflectionStatus, TeamRole
from bot.timezones import local_today, next_occurrence
from bot.week import Day, Numbers, Week, bounds, day_of

OVERDUE_DAY = -1  # the bucket of a follow-up still overdue (the others are days 0–6)


@dataclass(frozen=True)
class MemberWeek:
    """One member's counts for the week: the only things a lead learns about them."""

    agent_id: int
    name: str  # the member's display name (their Telegram name)
    lead: bool
    reflections_done: int = 0
    streak: int = 0
    follow_ups_done: int = 0
    overdue: int = 0  # due in the week, before now, still open
    contacts: int = 0
    stages: dict[str, int] = field(default_factory=dict)  # Stage → clients not archived, stages with none left out
    last_active: date | None = None  # the member's local day
    idle_days: int | None = None  # days from then to the member's today (0: active today); None: never

    @property
    def clients(self) -> int:
        return sum(self.stages.values())


@dataclass(frozen=True)
class TeamWeek:
    """The team's week: each member's counts, and the per-day sums the chart draws."""

    team: str
    week: Week
    members: tuple[MemberWeek, ...]
    chart: Numbers

    @property
    def reflections_done(self) -> int:
        return sum(member.reflections_done for member in self.members)

    @property
    def follow_ups_done(self) -> int:
        return sum(member.follow_ups_done for member in self.members)

    @property
    def overdue(self) -> int:
        return sum(member.overdue for member in self.members)

    @property
    def contacts(self) -> int:
        return sum(member.contacts for member in self.members)


@dataclass(frozen=True)
class _Member:
    agent_id: int
    name: str
    zone: str
    work_days: str
    lead: bool


# ------------------------------------------------------------------------------------------------ who leads


async def lead_membership(session: AsyncSession, agent_id: int) -> TeamMember | None:
    """The agent's membership if they lead a team (the one thing that opens the view); None otherwise."""
    found = await session.execute(
        select(TeamMember).where(TeamMember.agent_id == agent_id, TeamMember.role == TeamRole.LEAD)
    )
    return found.scalar_one_or_none()


@dataclass(frozen=True)
class Visibility:
    """Who sees an agent's counts (`/privacy`): their team, their role in it, and the team's other leads."""

    team: str | None = None
    lead: bool = False
    leads: tuple[str, ...] = ()  # display names, the agent themself left out


async def visibility(session: AsyncSession, agent_id: int) -> Visibility:
    """The team the agent is in and the display names of its leads (one statement)."""
    mine = select(TeamMember.team_id, TeamMember.role).where(TeamMember.agent_id == agent_id).subquery()
    rows = (
        await session.execute(
            select(Team.name, mine.c.role, Agent.id, Agent.display_name)
            .select_from(mine)
            .join(Team, Team.id == mine.c.team_id)
            .outerjoin(TeamMember, (TeamMember.team_id == mine.c.team_id) & (TeamMember.role == TeamRole.LEAD))
            .outerjoin(Agent, Agent.id == TeamMember.agent_id)
        )
    ).all()
    if not rows:
        return Visibility()
    leads = tuple(sorted(name for _, _, lead_id, name in rows if lead_id is not None and lead_id != agent_id))
    return Visibility(rows[0][0], rows[0][1] == TeamRole.LEAD, leads)


# ----------------------------------------------------------------------------------------- the team digest


def team_digest_due(agent: Agent, lead: TeamMember, after: datetime) -> datetime:
    """The lead's next team digest after `after`, in the lead's zone: their chosen weekday and time, each falling
    back to their own weekly digest's."""
    weekday = lead.team_digest_weekday or agent.digest_weekday
    at = lead.team_digest_time or agent.digest_time
    return next_occurrence(after, at, agent.timezone, str(weekday))


def set_team_digest_time(lead: TeamMember, weekday: int | None, at: time | None) -> None:
    """The lead's choice; None for both means "with my own weekly digest" (the caller reschedules)."""
    if (weekday is None) != (at is None):
        raise ValueError("a team digest time is a weekday and a time, or neither")
    if weekday is not None and not 1 <= weekday <= 7:
        raise ValueError(f"not an ISO weekday: {weekday}")
    lead.team_digest_weekday, lead.team_digest_time = weekday, at


# ------------------------------------------------------------------------------------------------ the counts


async def team_week(session: AsyncSession, team_id: int, week: Week, now: datetime) -> TeamWeek:
    """Every member's counts for `week` (each in their own zone) and the team's chart, at `now`."""
    rows = (
        await session.execute(
            select(Team.name, Agent.id, Agent.display_name, Agent.timezone, Agent.work_days, TeamMember.role)
            .select_from(TeamMember)
            .join(Team, Team.id == TeamMember.team_id)
            .join(Agent, Agent.id == TeamMember.agent_id)
            .where(TeamMember.team_id == team_id)
        )
    ).all()
    team = rows[0][0] if rows else ""
    # Leads first, then by name: ordered here, so both backends (their collations differ) order alike.
    members = [
        _Member(agent_id, name, zone, days, role == TeamRole.LEAD) for _, agent_id, name, zone, days, role in rows
    ]
    members.sort(key=lambda member: (not member.lead, member.name, member.agent_id))
    ids = [member.agent_id for member in members]
    done_days = await _finished_reflections(session, ids, week.end)
    stages = await _clients_by_stage(session, ids)
    last = await _last_activity(session, ids)
    follow_ups: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    contacts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    by_zone: dict[str, list[int]] = defaultdict(list)
    for member in members:
        by_zone[member.zone].append(member.agent_id)
    for zone, in_zone in by_zone.items():
        edges = bounds(week, zone)
        await _count_follow_ups(session, in_zone, edges, now, follow_ups)
        await _count_contacts(session, in_zone, edges, contacts)

    counted = []
    for member in members:
        today = min(local_today(now, member.zone), week.end)
        done = done_days.get(member.agent_id, set())
        counted.append(
            MemberWeek(
                agent_id=member.agent_id,
                name=member.name,
                lead=member.lead,
                reflections_done=sum(week.start <= day <= week.end for day in done),
                streak=count_streak(done, member.work_days, today),
                follow_ups_done=sum(n for day, n in follow_ups[member.agent_id].items() if day != OVERDUE_DAY),
                overdue=follow_ups[member.agent_id][OVERDUE_DAY],
                contacts=sum(contacts[member.agent_id].values()),
                stages=stages.get(member.agent_id, {}),
                **_activity(last.get(member.agent_id), member.zone, now),
            )
        )
    days = tuple(
        Day(
            day,
            contacts=sum(contacts[agent_id][n] for agent_id in ids),
            follow_ups_done=sum(follow_ups[agent_id][n] for agent_id in ids),
        )
        for n, day in enumerate(week.days)
    )
    return TeamWeek(team, week, tuple(counted), Numbers(week=week, days=days))


def _activity(last: datetime | None, zone: str, now: datetime) -> dict[str, Any]:
    if last is None:
        return {}
    day = local_today(last, zone)
    return {"last_active": day, "idle_days": max((local_today(now, zone) - day).days, 0)}


async def _finished_reflections(session: AsyncSession, ids: Sequence[int], last_day: date) -> dict[int, set[date]]:
    """The days of each member's finished reflections up to `last_day`: dates only, what a streak needs."""
    rows = await session.execute(
        select(Reflection.agent_id, Reflection.day).where(
            Reflection.agent_id.in_(ids), Reflection.status == ReflectionStatus.DONE, Reflection.day <= last_day
        )
    )
    days: dict[int, set[date]] = defaultdict(set)
    for agent_id, day in rows.all():
        days[agent_id].add(day)
    return days


async def _clients_by_stage(session: AsyncSession, ids: Sequence[int]) -> dict[int, dict[str, int]]:
    rows = await session.execute(
        select(Client.agent_id, Client.stage, func.count())
        .where(Client.agent_id.in_(ids), Client.archived.is_(False))
        .group_by(Client.agent_id, Client.stage)
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for agent_id, stage, count in rows.all():
        found[agent_id][stage] = count
    order: dict[str, int] = {stage: n for n, stage in enumerate(STAGES)}
    return {
        agent_id: dict(sorted(counts.items(), key=lambda item: order.get(item[0], len(order))))
        for agent_id, counts in found.items()
    }


async def _last_activity(session: AsyncSession, ids: Sequence[int]) -> dict[int, datetime]:
    """Each member's latest change of their own rows: a reflection, a client, a follow-up, a contact logged."""
    latest = union_all(
        select(Reflection.agent_id.label("agent"), func.max(Reflection.updated_at).label("at"))
        .where(Reflection.agent_id.in_(ids))
        .group_by(Reflection.agent_id),
        select(Client.agent_id, func.max(Client.updated_at)).where(Client.agent_id.in_(ids)).group_by(Client.agent_id),
        select(FollowUp.agent_id, func.max(FollowUp.updated_at))
        .where(FollowUp.agent_id.in_(ids))
        .group_by(FollowUp.agent_id),
        select(Client.agent_id, func.max(ContactLog.at))
        .join(Client, Client.id == ContactLog.client_id)
        .where(Client.agent_id.in_(ids))
        .group_by(Client.agent_id),
    ).subquery()
    rows = await session.execute(select(latest.c.agent, func.max(latest.c.at)).group_by(latest.c.agent))
    return {agent_id: at for agent_id, at in rows.all() if at is not None}


async def _count_follow_ups(
    session: AsyncSession,
    ids: Sequence[int],
    edges: tuple[datetime, ...],
    now: datetime,
    into: dict[int, dict[int, int]],
) -> None:
    """Follow-ups of members in one zone: done in the week, by the day done; due in it, past and open (as
    `bot.week` counts them for the agent's own digest)."""
    start, end = edges[0], edges[7]
    bucketed = (
        select(
            FollowUp.agent_id.label("agent"),
            case((FollowUp.status == FollowUpStatus.DONE, day_of(FollowUp.done_at, edges)), else_=OVERDUE_DAY).label(
                "day"
            ),
        )
        .where(
            FollowUp.agent_id.in_(ids),
            or_(
                (FollowUp.status == FollowUpStatus.DONE) & (FollowUp.done_at >= start) & (FollowUp.done_at < end),
                (FollowUp.status == FollowUpStatus.OPEN)
                & (FollowUp.due_at >= start)
                & (FollowUp.due_at < end)
                & (FollowUp.due_at < now),
            ),
        )
        .subquery()
    )
    # Grouped outside, as bot.week does: PostgreSQL does not match a CASE with bound values in GROUP BY.
    rows = await session.execute(
        select(bucketed.c.agent, bucketed.c.day, func.count()).group_by(bucketed.c.agent, bucketed.c.day)
    )
    for agent_id, day, count in rows.all():
        into[agent_id][day] += count


async def _count_contacts(
    session: AsyncSession, ids: Sequence[int], edges: tuple[datetime, ...], into: dict[int, dict[int, int]]
) -> None:
    """Contacts logged by members in one zone, by their local day of the week."""
    bucketed = (
        select(Client.agent_id.label("agent"), day_of(ContactLog.at, edges).label("day"))
        .join(Client, Client.id == ContactLog.client_id)
        .where(
            Client.agent_id.in_(ids),
            ContactLog.at >= edges[0],
            ContactLog.at < edges[7],
            ContactLog.kind.in_(CONTACT_KINDS),
        )
        .subquery()
    )
    rows = await session.execute(
        select(bucketed.c.agent, bucketed.c.day, func.count()).group_by(bucketed.c.agent, bucketed.c.day)
    )
    for agent_id, day, count in rows.all():
        into[agent_id][day] += count
