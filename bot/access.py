"""Who may use the bot (setting ACCESS): in open mode anyone who writes is registered; in invite mode only someone
who comes with a valid invite code (the deep link t.me/<bot>?start=<code>), or an admin (ADMIN_IDS).

A stranger refused in invite mode leaves nothing behind: `admit` reads, and writes only once the person is let in
(the invite's use, the agent, the membership, in the caller's one transaction). Agents already registered keep
working whatever the mode; a code they bring is redeemed for them (bot.teams).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.agents import NewAgent, find_agent, register, returned
from bot.models import Agent
from bot.teams import Redemption, redeem


@dataclass(frozen=True)
class Admission:
    """The agent let in (None: refused, nothing stored), and what became of the code they brought, if any."""

    agent: Agent | None
    redemption: Redemption | None = None


async def admit(
    session: AsyncSession,
    who: NewAgent,
    now: datetime,
    *,
    invite: str | None,
    invite_only: bool,
    admins: frozenset[int],
) -> Admission:
    """The agent for this Telegram user, registered if the access mode lets them in; `invite` is the code that
    came with /start."""
    agent = await find_agent(session, who.telegram_user_id)
    if agent is not None:
        await returned(session, agent, who, now)
        return Admission(agent, await redeem(session, invite, agent, now) if invite is not None else None)
    redemption = await redeem(session, invite, who, now) if invite is not None else None
    if redemption is not None and redemption.agent is not None:
        return Admission(redemption.agent, redemption)
    if invite_only and who.telegram_user_id not in admins:
        return Admission(None, redemption)
    return Admission(await register(session, who, now), redemption)
