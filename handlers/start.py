"""Onboarding.

/start greets a new agent, then asks one question at a time, each with buttons and each also answerable
by typing: language, time zone, daily reflection time, work days, weekly digest day and time, daily tip.
Every answer is saved as it comes and `Agent.setup_step` remembers the next question, so a restart, a
/cancel or a detour through another command resumes at the same question. The last answer brings a
confirmation that shows every choice. /start after setup welcomes the agent back and changes nothing.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.agents import SETUP_STEPS, advance_setup, change_settings, restart_setup
from bot.conversations import Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import parse_setting, toggle_work_day
from handlers.context import Turn, turn
from handlers.keyboards import button, markup, unpack
from handlers.menus import set_chat_menu
from handlers.setting_views import SETTING_OF_STEP, question, setting_value, summary

PREFIX = "ob"
FLOW = "onboarding"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: begin or resume onboarding, or welcome back an agent who is set up."""
    async with turn(update, context) as tn:
        await set_chat_menu(context.bot, tn.agent.chat_id, tn.lang)
        step = tn.agent.setup_step
        if step is None:
            await context.bot.send_message(
                tn.agent.chat_id,
                tn.t("start.welcome_back", name=tn.agent.display_name, summary=Html(summary(tn.agent, tn.now))),
                reply_markup=markup(
                    [
                        [button(tn.t("button.open_settings"), "st", "open", "panel")],
                        [button(tn.t("button.setup_again"), PREFIX, "restart", "yes")],
                    ]
                ),
            )
            return
        greeting = "start.welcome" if step == SETUP_STEPS[0] else "start.resume"
        await context.bot.send_message(tn.agent.chat_id, tn.t(greeting, name=tn.agent.display_name))
        await ask(tn, context, step)


async def ask(tn: Turn, context: ContextTypes.DEFAULT_TYPE, step: str) -> None:
    """Send the question for `step` and wait for its answer (a button or typed text)."""
    text, rows = question(step, tn.agent, PREFIX)
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step), tn.now)
    await context.bot.send_message(tn.agent.chat_id, text, reply_markup=markup(rows))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on an onboarding question (`ob:<step>:<value>`)."""
    query = update.callback_query
    assert query is not None
    fields = unpack(query.data, 3)
    async with turn(update, context) as tn:
        if fields is None:
            await query.answer(tn.t("error.stale_button"))
            return
        _, step, value = fields
        if step == "restart":
            restart_setup(tn.agent, tn.now)
            await query.answer()
            await query.edit_message_reply_markup(None)
            await ask(tn, context, SETUP_STEPS[0])
            return
        if tn.agent.setup_step != step:
            await query.answer(tn.t("setup.step_done"))
            return
        if step == "workdays" and value != "done":
            days = toggle_work_day(tn.agent.work_days, int(value)) if value.isdigit() and 1 <= int(value) <= 7 else None
            if days is None:
                await query.answer(tn.t("error.stale_button"))
                return
            change_settings(tn.agent, tn.now, work_days=days)
            await query.answer()
            _, rows = question(step, tn.agent, PREFIX)
            await query.edit_message_reply_markup(markup(rows))
            return
        if step == "workdays":
            if not tn.agent.work_days:
                await query.answer(tn.t("invalid.workdays_none"), show_alert=True)
                return
            values: dict[str, object] | None = {}
        else:
            values = parse_setting(step, value)
        if values is None:
            await query.answer(tn.t("error.stale_button"))
            return
        await query.answer()
        answered = await apply_answer(tn, context, step, values)
        await query.edit_message_text(answered_line(tn, step))
        await proceed(tn, context, answered)


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while onboarding waits for an answer."""
    message = update.effective_message
    assert message is not None and message.text is not None
    step = tn.agent.setup_step
    if step is None or step != waiting.step:
        # The flow moved on (e.g. a button answered it): ask what is actually next.
        await stop_waiting(tn.session, tn.agent.chat_id)
        if step is not None:
            await ask(tn, context, step)
        return
    values = parse_setting(step, message.text)
    if values is None:
        await message.reply_text(tn.t(f"invalid.{step}"))
        return
    answered = await apply_answer(tn, context, step, values)
    await message.reply_text(answered_line(tn, step))
    await proceed(tn, context, answered)


async def apply_answer(tn: Turn, context: ContextTypes.DEFAULT_TYPE, step: str, values: dict[str, object]) -> str:
    """Store an answer; returns the last step it answered ("sun 20:00" answers both digest questions)."""
    change_settings(tn.agent, tn.now, **values)
    if "language" in values:
        await set_chat_menu(context.bot, tn.agent.chat_id, tn.lang)
    if step == "digest_day" and "digest_time" in values:
        advance_setup(tn.agent, step, tn.now)
        return "digest_time"
    return step


async def proceed(tn: Turn, context: ContextTypes.DEFAULT_TYPE, answered: str) -> None:
    """After an answer: the next question, or the confirmation with every choice."""
    following = advance_setup(tn.agent, answered, tn.now)
    if following is not None:
        await ask(tn, context, following)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    await context.bot.send_message(
        tn.agent.chat_id,
        tn.t("setup.done", summary=Html(summary(tn.agent, tn.now))),
        reply_markup=markup([[button(tn.t("button.open_settings"), "st", "open", "panel")]]),
    )


def answered_line(tn: Turn, step: str) -> str:
    setting = SETTING_OF_STEP[step]
    return tn.t(
        "setup.answered",
        setting=tn.t(f"setting.{setting}"),
        value=Html(setting_value(tn.agent, setting, tn.now)),
    )
