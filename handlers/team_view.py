"""The team lead's view (/team for a lead). A stub in this branch: the lead engineer merges the real one."""

from __future__ import annotations

from bot.teams import membership_of
from handlers.context import Turn


async def show(tn: Turn) -> None:
    """The lead's view of their team."""
    membership = await membership_of(tn.session, tn.agent.id)
    tn.send(tn.t("teams.lead", team=membership.team if membership else ""))
