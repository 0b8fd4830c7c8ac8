"""/team: a team lead's view of the team (handlers.team_view); anyone else gets one line.

Minimal on this branch: the teams and invites work (admins' `/team`) wraps this same call for a lead.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from handlers import team_view
from handlers.context import turn


async def show_team(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/team: the lead's view, or the line that says it is for leads."""
    async with turn(update, context) as tn:
        await team_view.show(tn)
