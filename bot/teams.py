"""Teams, their members, and the invite codes that bring agents in.

An admin creates a team and invites into it (`agentcoach team …`, or /team in the chat). An invite is a code
carried by a Telegram deep link, t.me/<bot>?start=<code>: `create_invite` returns the code once and stores only
its SHA-256, so the database alone lets nobody in. Redeeming a code checks it (wrong, expired, used up), then
the agent: one team per agent, so someone already in another team is refused — they leave it first (/team →
Leave team), and a lead's counts never change owner behind anyone's back. A lead invite for the team an agent is
already in makes them its lead. A use is taken with one conditional UPDATE, so two people racing for the last
use of a code cannot both get in.

Every membership change reschedules the agent's recurring deliveries (the lead's weekly team digest follows
the membership); an agent still in onboarding gets theirs when it completes, as after a block.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import recurring
from bot.agents import NewAgent, find_agent, register
from bot.models import Agent, Invite, Team, TeamMember
from bot.statuses import TeamRole
from bot.text import clean

# 16 random bytes: 22 characters of token_urlsafe, 128 bits, far beyond guessing through Telegram.
CODE_BYTES: Final = 16
# What Telegram lets a deep link's start parameter be; anything else after /start cannot be one of our codes.
CODE_SHAPE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
NAME_LONGEST: Final = 64
# The longest an invite may stay open, and the most uses one may have: an open-ended door is a revoke away.
LONGEST_EXPIRY: Final = timedelta(days=365)
MOST_USES: Final = 10_000


class Redeemed(StrEnum):
    """What became of a code someone brought (each has its own answer in the catalog, `teams.redeemed.<it>`)."""

    JOINED = "joined"
    PROMOTED = "promoted"  # a lead invite for the team they were already in
    WRONG_CODE = "wrong_code"
    EXPIRED = "expired"
    USED_UP = "used_up"
    ALREADY_IN_TEAM = "already_in_team"
    IN_ANOTHER_TEAM = "in_another_team"


@dataclass(frozen=True)
class Redemption:
    """What a code did: the team its answer names (none for a wrong code), and the role when they joined."""

    outcome: Redeemed
    team: str | None = None
    role: TeamRole | None = None
    agent: Agent | None = None  # the agent, registered by the code when they were new

    @property
    def joined(self) -> bool:
        return self.outcome in (Redeemed.JOINED, Redeemed.PROMOTED)


@dataclass(frozen=True)
class Membership:
    team_id: int
    team: str
    role: TeamRole

    @property
    def is_lead(self) -> bool:
        return self.role == TeamRole.LEAD


@dataclass(frozen=True)
class TeamOverview:
    """A line of `agentcoach team list` and the admin's panel."""

    id: int
    name: str
    members: int
    leads: int
    open_invites: int


class TeamError(Exception):
    """A team operation refused; the message is the one line an operator reads (the chat uses its own words)."""


class DuplicateTeam(TeamError):
    pass


class NoSuchTeam(TeamError):
    pass


class BadTeamName(TeamError):
    pass


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def looks_like_code(text: str) -> bool:
    """Could `text` (what follows /start) be an invite code at all?"""
    return bool(CODE_SHAPE.fullmatch(text))


def team_name(typed: str) -> str:
    """The name as stored: cleaned, runs of spaces as one; refused when empty or too long."""
    name = " ".join(clean(typed).split())
    if not name:
        raise BadTeamName("a team needs a name")
    if len(name) > NAME_LONGEST:
        raise BadTeamName(f"a team name is at most {NAME_LONGEST} characters")
    return name


async def team_named(session: AsyncSession, name: str) -> Team | None:
    return (await session.execute(select(Team).where(Team.name == " ".join(clean(name).split())))).scalar_one_or_none()


async def team_by_id(session: AsyncSession, team_id: int) -> Team | None:
    return await session.get(Team, team_id)


async def create_team(session: AsyncSession, name: str, now: datetime) -> Team:
    """A new team; a name already taken is refused (names are how admins and the CLI pick a team)."""
    name = team_name(name)
    if await team_named(session, name) is not None:
        raise DuplicateTeam(f"a team named {name!r} already exists")
    team = Team(name=name, created_at=now)
    session.add(team)
    await session.flush()
    return team


async def create_invite(
    session: AsyncSession,
    team: Team,
    role: TeamRole,
    now: datetime,
    *,
    uses: int | None,
    expires: timedelta | None = None,
    created_by: int | None = None,
) -> tuple[Invite, str]:
    """A new invite and its code: the only time the code exists in the clear (only its hash is stored).
    `uses` None is unlimited; `expires` None never expires."""
    if uses is not None and not 1 <= uses <= MOST_USES:
        raise TeamError(f"uses must be 1-{MOST_USES}")
    if expires is not None and not timedelta(0) < expires <= LONGEST_EXPIRY:
        raise TeamError(f"an invite expires within {LONGEST_EXPIRY.days} days")
    code = secrets.token_urlsafe(CODE_BYTES)
    invite = Invite(
        code_hash=hash_code(code),
        team_id=team.id,
        role=role,
        max_uses=uses,
        uses=0,
        expires_at=now + expires if expires is not None else None,
        created_by=created_by,
        created_at=now,
    )
    session.add(invite)
    await session.flush()
    return invite, code


def _open(now: datetime) -> list[ColumnElement[bool]]:
    """An invite that can still let someone in."""
    return [
        or_(Invite.max_uses.is_(None), Invite.uses < Invite.max_uses),
        or_(Invite.expires_at.is_(None), Invite.expires_at > now),
    ]


async def open_invites(session: AsyncSession, team_id: int, now: datetime) -> list[Invite]:
    query = select(Invite).where(Invite.team_id == team_id, *_open(now)).order_by(Invite.created_at, Invite.id)
    return list((await session.execute(query)).scalars())


async def revoke_invite(session: AsyncSession, invite_id: int) -> bool:
    """Delete an invite (its code then reads as wrong); True if there was one."""
    result = await session.execute(delete(Invite).where(Invite.id == invite_id))
    return bool(getattr(result, "rowcount", 0))


async def overview(session: AsyncSession, now: datetime) -> list[TeamOverview]:
    """Every team by name, with its members, leads and open invites counted."""
    members = await _counts(session, select(TeamMember.team_id, func.count()).group_by(TeamMember.team_id))
    leads = await _counts(
        session,
        select(TeamMember.team_id, func.count()).where(TeamMember.role == TeamRole.LEAD).group_by(TeamMember.team_id),
    )
    invites = await _counts(session, select(Invite.team_id, func.count()).where(*_open(now)).group_by(Invite.team_id))
    teams = (await session.execute(select(Team).order_by(Team.name))).scalars()
    return [
        TeamOverview(team.id, team.name, members.get(team.id, 0), leads.get(team.id, 0), invites.get(team.id, 0))
        for team in teams
    ]


async def _counts(session: AsyncSession, query: Select[int, int]) -> dict[int, int]:
    return {team_id: count for team_id, count in (await session.execute(query)).all()}


async def membership_of(session: AsyncSession, agent_id: int) -> Membership | None:
    """The agent's team and role, read afresh (a lead removed a moment ago is no lead now)."""
    row = (
        await session.execute(
            select(TeamMember.team_id, Team.name, TeamMember.role)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.agent_id == agent_id)
        )
    ).one_or_none()
    return None if row is None else Membership(row[0], row[1], TeamRole(row[2]))


async def redeem(session: AsyncSession, code: str, who: Agent | NewAgent, now: datetime) -> Redemption:
    """Bring `who` into the code's team. A `NewAgent` (someone who has never written) is registered only when the
    code lets them in; a refusal writes nothing."""
    invite = None
    if looks_like_code(code):
        invite = (await session.execute(select(Invite).where(Invite.code_hash == hash_code(code)))).scalar_one_or_none()
    if invite is None:
        return Redemption(Redeemed.WRONG_CODE)
    team = await session.get(Team, invite.team_id)
    assert team is not None  # (the foreign key cascades)
    role = TeamRole(invite.role)
    refused = _refusal(invite, now)
    if refused is not None:
        return Redemption(refused, team.name)
    agent = who if isinstance(who, Agent) else None
    current = await session.get(TeamMember, agent.id) if agent is not None else None
    if current is not None and current.team_id != team.id:
        other = await session.get(Team, current.team_id)
        assert other is not None  # (the foreign key cascades)
        return Redemption(Redeemed.IN_ANOTHER_TEAM, other.name)
    if current is not None and (current.role == TeamRole.LEAD or role == TeamRole.MEMBER):
        return Redemption(Redeemed.ALREADY_IN_TEAM, team.name)
    if not await _take_a_use(session, invite, now):  # another redemption took the last use a moment ago
        return Redemption(Redeemed.USED_UP, team.name)
    if agent is None:
        assert isinstance(who, NewAgent)
        agent = await register(session, who, now)
    if current is not None:
        current.role = TeamRole.LEAD
        outcome = Redeemed.PROMOTED
    else:
        session.add(TeamMember(agent_id=agent.id, team_id=team.id, role=role, joined_at=now))
        outcome = Redeemed.JOINED
    await session.flush()
    await _membership_changed(session, agent, now)
    return Redemption(outcome, team.name, role, agent)


def _refusal(invite: Invite, now: datetime) -> Redeemed | None:
    if invite.expires_at is not None and invite.expires_at <= now:
        return Redeemed.EXPIRED
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return Redeemed.USED_UP
    return None


async def _take_a_use(session: AsyncSession, invite: Invite, now: datetime) -> bool:
    """One use of the invite, if it still has one: a single conditional UPDATE, so a race has one winner."""
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, *_open(now))
        .values(uses=Invite.uses + 1)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


async def remove_member(session: AsyncSession, agent: Agent, now: datetime) -> Membership | None:
    """Take the agent out of their team (a lead loses the view at once); the membership they had, or None."""
    had = await membership_of(session, agent.id)
    if had is None:
        return None
    await session.execute(delete(TeamMember).where(TeamMember.agent_id == agent.id))
    await _membership_changed(session, agent, now)
    return had


async def leave(session: AsyncSession, agent: Agent, now: datetime) -> Membership | None:
    """The agent leaves their team themselves (the same as being removed)."""
    return await remove_member(session, agent, now)


async def remove_by_telegram_id(session: AsyncSession, telegram_user_id: int, now: datetime) -> Membership | None:
    """`agentcoach team remove`: by the id an admin can see in Telegram. Raises when there is no such agent."""
    agent = await find_agent(session, telegram_user_id)
    if agent is None:
        raise TeamError(f"no agent has Telegram user id {telegram_user_id}")
    return await remove_member(session, agent, now)


async def _membership_changed(session: AsyncSession, agent: Agent, now: datetime) -> None:
    """What waits on a schedule for the agent follows their team (the lead's weekly team digest)."""
    if agent.setup_step is None:  # one still in onboarding gets everything when it completes
        await recurring.reschedule(session, agent, now)


# -- how long an invite stays open: "7d", "12h", "30m", "2w" ----------------------------------------------------

_DURATION = re.compile(r"\s*(\d{1,6})\s*([mhdw])\s*", re.ASCII | re.IGNORECASE)
_UNITS: Final = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta | None:
    """'7d' → 7 days ('30m', '12h', '2w' alike); None for anything else, zero, or beyond a year."""
    found = _DURATION.fullmatch(text)
    if found is None:
        return None
    length = int(found.group(1)) * _UNITS[found.group(2).lower()]
    return length if timedelta(0) < length <= LONGEST_EXPIRY else None


def deep_link(bot_username: str, code: str) -> str:
    """The link that opens the bot with /start <code> (Telegram's deep linking)."""
    return f"https://t.me/{bot_username}?start={code}"
