"""Erasing an agent (/delete_me): what they hold, and removing all of it in one transaction.

Every row of theirs goes: the agents row, and every row of any table that refers to a row of theirs by a foreign
key, however deep (clients; contact logs through the clients; follow-ups, deliveries — waiting ones and the sent
history —, reflections, tip states, team membership; and whatever table a later version adds with such a key: the
tables are found from the schema, and emptied children before parents). Rows that name them without a foreign key
are handled by name: the chat's conversation state, and the invites they made as an admin, which stay usable and
forget who made them.

Nothing relies on ON DELETE CASCADE (SQLite enforces foreign keys only with `PRAGMA foreign_keys=ON`, which
bot.db sets, but a connection made elsewhere may not): each table is deleted from explicitly.

A team keeps nothing of them: a lead's view is counted live from the members' rows (bot/teams.py), so once the
rows are gone the agent is simply not in the counts any more.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import stop_waiting
from bot.models import (
    WAITING_STATUSES,
    Agent,
    Base,
    Client,
    ContactLog,
    Delivery,
    FollowUp,
    Invite,
    Reflection,
    ShowingReview,
    Team,
    TeamMember,
    TipState,
)

AGENTS: Table = Agent.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Holdings:
    """How much of an agent there is: what /delete_me lists before and after."""

    clients: int
    contacts: int
    follow_ups: int
    showing_reviews: int
    reflections: int
    tips: int
    scheduled: int
    team: str | None = None  # the team's name and their role in it, if they are in one
    team_role: str | None = None


async def holdings(session: AsyncSession, agent: Agent) -> Holdings:
    """What erasing the agent would remove (`scheduled` counts only deliveries still waiting)."""
    clients = select(Client.id).where(Client.agent_id == agent.id)

    async def count(*where: ColumnElement[bool], of: type[Base]) -> int:
        return int((await session.execute(select(func.count()).select_from(of).where(*where))).scalar_one())

    membership = (
        await session.execute(
            select(Team.name, TeamMember.role)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.agent_id == agent.id)
        )
    ).one_or_none()
    team, role = membership if membership is not None else (None, None)
    return Holdings(
        clients=await count(Client.agent_id == agent.id, of=Client),
        contacts=await count(ContactLog.client_id.in_(clients), of=ContactLog),
        follow_ups=await count(FollowUp.agent_id == agent.id, of=FollowUp),
        showing_reviews=await count(ShowingReview.agent_id == agent.id, of=ShowingReview),
        reflections=await count(Reflection.agent_id == agent.id, of=Reflection),
        tips=await count(TipState.agent_id == agent.id, of=TipState),
        scheduled=await count(Delivery.agent_id == agent.id, Delivery.status.in_(WAITING_STATUSES), of=Delivery),
        team=team,
        team_role=role,
    )


async def erase_agent(session: AsyncSession, agent: Agent) -> Holdings:
    """Delete the agent and everything of theirs in the session's transaction; what was there (counted first).

    The caller commits; until then nobody else sees any of it gone, and a failure leaves everything in place."""
    found = await holdings(session, agent)
    owned = _owned(agent.id)
    for table in reversed(Base.metadata.sorted_tables):  # children before the rows they refer to
        if table in owned:
            await session.execute(delete(table).where(owned[table]))
    await stop_waiting(session, agent.chat_id)
    if agent.telegram_user_id != agent.chat_id:  # a private chat's id is the user's: the same row, nearly always
        await stop_waiting(session, agent.telegram_user_id)
    await session.execute(
        update(Invite)
        .where(Invite.created_by == agent.telegram_user_id)
        .values(created_by=None)
        .execution_options(synchronize_session=False)
    )
    session.expunge(agent)  # its row is gone; the caller still reads its language and chat for the last reply
    return found


def _owned(agent_id: int) -> dict[Table, ColumnElement[bool]]:
    """Which rows of each table are the agent's: the agents row, and every row whose foreign key refers to a row
    of theirs (a client's contact logs through the client), however deep; tables without such a key are absent."""
    owned: dict[Table, ColumnElement[bool]] = {AGENTS: AGENTS.c.id == agent_id}
    for table in Base.metadata.sorted_tables:  # the tables a table refers to come before it
        conditions = [
            key.parent == agent_id
            if key.column is AGENTS.c.id
            else key.parent.in_(select(key.column).where(owned[key.column.table]))
            for key in table.foreign_keys
            if key.column.table in owned and table is not AGENTS
        ]
        if conditions:
            owned[table] = or_(*conditions)
    return owned
