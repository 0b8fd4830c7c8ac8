"""/help, /cancel, and whatever matches no other handler: typed answers to a waiting flow, unknown commands."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.ext import ContextTypes

from bot.conversations import Waiting, stop_waiting, waiting_for
from handlers import clients, data, day_parts, followups, free_text, reflections, settings, showing_review, start, team
from handlers.context import Turn, turn

TextAnswer = Callable[[Turn, Update, ContextTypes.DEFAULT_TYPE, Waiting], Awaitable[None]]
# Each flow that waits for typed input names the function that takes it.
FLOWS: dict[str, TextAnswer] = {
    start.FLOW: start.answer_text,
    settings.FLOW: settings.answer_text,
    followups.FLOW: followups.answer_text,
    clients.FLOW: clients.answer_text,
    reflections.FLOW: reflections.answer_text,
    day_parts.FLOW: day_parts.answer_text,
    free_text.FLOW: free_text.answer_text,
    team.FLOW: team.answer_text,
    data.FLOW: data.answer_text,
    showing_review.FLOW: showing_review.answer_text,
}


async def show_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: what the bot does and its commands."""
    async with turn(update, context) as tn:
        tn.send(tn.t("help.text"))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/cancel: leave whatever flow is waiting; answers given so far stay saved."""
    async with turn(update, context) as tn:
        had_flow = await stop_waiting(tn.session, tn.agent.chat_id)
        key = "cancel.done" if had_flow else "cancel.nothing"
        if tn.agent.setup_step is not None:
            key = "cancel.setup_paused"
        tn.send(tn.t(key))


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text: the answer to the flow that waits for one, else read for a client, a time or a contact to offer."""
    async with turn(update, context) as tn:
        waiting = await waiting_for(tn.session, tn.agent.chat_id)
        answer = FLOWS.get(waiting.flow) if waiting else None
        if waiting is not None and answer is not None:
            await answer(tn, update, context, waiting)
            return
        if tn.agent.setup_step is not None:
            tn.send(tn.t("fallback.setup_first"))
            return
        await free_text.answer(tn)


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    async with turn(update, context) as tn:
        tn.send(tn.t("fallback.unknown_command"))


async def unsupported_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos and the like: say what the bot understands instead of staying silent."""
    async with turn(update, context) as tn:
        tn.send(tn.t("fallback.unsupported"))


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press whose data no handler knows (forged, or from an older version): refuse politely."""
    async with turn(update, context) as tn:
        tn.toast(tn.t("error.stale_button"))
