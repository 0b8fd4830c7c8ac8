"""The last resort: log the traceback with the update id, apologise in the agent's language, keep running."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, RetryAfter
from telegram.ext import ContextTypes

from bot.agents import find_agent
from bot.i18n import from_telegram, t
from handlers.context import services

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, RetryAfter):
        # Expected under a flood: the rate limiter already waited and retried (runtime.send_budget); what the
        # agent entered is committed. An apology would only meet the same limit.
        log.warning("update %s: a reply was not sent: Telegram still asked to wait (%s)", update_id, context.error)
        return
    log.error("error while handling update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None or isinstance(context.error, Forbidden):
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer()  # stop the button's spinner; it may have been answered already
        except Exception:
            log.debug("callback query of update %s already answered", update_id)
    try:
        language = await agent_language(update, context)
        await context.bot.send_message(update.effective_chat.id, t(language, "error.generic"))
    except Exception:  # the apology itself failed (network, blocked): the log already has the cause
        log.warning("could not apologise for update %s", update_id, exc_info=True)


async def agent_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    """The agent's stored language, or a guess from Telegram if the database is what failed."""
    svc = services(context)
    user = update.effective_user
    guess = from_telegram(user.language_code if user else None, svc.settings.default_language)
    if user is None:
        return guess
    try:
        async with svc.sessions() as session:
            agent = await find_agent(session, user.id)
    except Exception:
        return guess
    return agent.language if agent else guess
