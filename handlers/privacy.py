"""/privacy: who can see the agent's counts, what exactly they see, and how the agent takes their data out or
erases it. Told from the database as it is now (bot.team_view.visibility), so it names the leads by name."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import Html
from bot.team_view import visibility
from handlers.context import Turn, turn


async def show_privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/privacy for every agent, in a team or not."""
    async with turn(update, context) as tn:
        tn.send(await privacy_text(tn))


async def privacy_text(tn: Turn) -> str:
    seen = await visibility(tn.session, tn.agent.id)
    leads = tn.t("privacy.joiner").join(seen.leads)
    if seen.team is None:
        who = tn.t("privacy.who.no_team")
    elif seen.lead and seen.leads:
        who = tn.t("privacy.who.lead_with_others", team=seen.team, leads=leads)
    elif seen.lead:
        who = tn.t("privacy.who.only_lead", team=seen.team)
    elif seen.leads:
        who = tn.t("privacy.who.leads", team=seen.team, leads=leads)
    else:
        who = tn.t("privacy.who.no_leads", team=seen.team)
    return tn.t("privacy.text", who=Html(who))
