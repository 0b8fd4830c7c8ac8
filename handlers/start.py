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

from bot import recurring
from bot.agents import SETUP_STEPS, advance_setup, change_settings, restart_setup
from bot.conversations import Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import parse_setting, toggle_work_day
from handlers.context import Turn, turn
from handlers.keyboards import button
from handlers.setting_views import SETTING_OF_STEP, question, setting_value, summary

PREFIX = "ob"
FLOW = "onboarding"


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: begin or resume onboarding, or welcome back an agent who is set up."""
    async with turn(update, context) as tn:
        tn.update_menu()
        step = tn.agent.setup_step
        if step is None:
            tn.send(
                tn.t("start.welcome_back", name=tn.agent.display_name, summary=Html(summary(tn.agent, tn.now))),
                [
                    [button(tn.t("button.open_settings"), "st", "open", "panel")],
                    [button(tn.t("button.setup_again"), PREFIX, "restart", "yes")],
                ],
            )
            return
        greeting = "start.welcome" if step == SETUP_STEPS[0] else "start.resume"
        tn.send(tn.t(greeting, name=tn.agent.display_name))
        await ask(tn, step)


async def ask(tn: Turn, step: str) -> None:
    """Ask the question for `step` and wait for its answer (a button or typed text)."""
    text, rows = question(step, tn.agent, PREFIX)
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step), tn.now)
    tn.send(text, rows)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on an onboarding question (`ob:<step>:<value>`)."""
    async with turn(update, context) as tn:
        fields = tn.pressed()
        if fields is None:
            return
        _, step, value = fields
        if step == "restart":
            restart_setup(tn.agent, tn.now)
            tn.edit_buttons(None)
            await ask(tn, SETUP_STEPS[0])
        elif tn.agent.setup_step != step:
            tn.toast(tn.t("setup.step_done"))
        elif step == "workdays":
            await on_workdays_button(tn, value)
        else:
            values = parse_setting(step, value)
            if values is None:
                tn.toast(tn.t("error.stale_button"))
                return
            answered = await apply_answer(tn, step, values)
            tn.edit(answered_line(tn, step))
            await proceed(tn, answered)


async def on_workdays_button(tn: Turn, value: str) -> None:
    """A day switches on or off in place; "done" answers the question."""
    if value == "done":
        if not tn.agent.work_days:
            tn.toast(tn.t("invalid.workdays_none"), alert=True)
            return
        tn.edit(answered_line(tn, "workdays"))
        await proceed(tn, "workdays")
    elif value.isdigit() and 1 <= int(value) <= 7:
        change_settings(tn.agent, tn.now, work_days=toggle_work_day(tn.agent.work_days, int(value)))
        tn.edit_buttons(question("workdays", tn.agent, PREFIX)[1])
    else:
        tn.toast(tn.t("error.stale_button"))


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while onboarding waits for an answer."""
    assert update.effective_message is not None and update.effective_message.text is not None
    step = tn.agent.setup_step
    if step is None or step != waiting.step:
        # The flow moved on (e.g. a button answered it): ask what is actually next.
        await stop_waiting(tn.session, tn.agent.chat_id)
        if step is not None:
            await ask(tn, step)
        return
    values = parse_setting(step, update.effective_message.text)
    if values is None:
        tn.send(tn.t(f"invalid.{step}"))
        return
    answered = await apply_answer(tn, step, values)
    tn.send(answered_line(tn, step))
    await proceed(tn, answered)


async def apply_answer(tn: Turn, step: str, values: dict[str, object]) -> str:
    """Store an answer; returns the last step it answered ("sun 20:00" answers both digest questions)."""
    change_settings(tn.agent, tn.now, **values)
    if "language" in values:
        tn.update_menu()
    if step == "digest_day" and "digest_time" in values:
        advance_setup(tn.agent, step, tn.now)
        return "digest_time"
    return step


async def proceed(tn: Turn, answered: str) -> None:
    """After an answer: the next question, or the confirmation with every choice."""
    following = advance_setup(tn.agent, answered, tn.now)
    if following is not None:
        await ask(tn, following)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    await recurring.reschedule(tn.session, tn.agent, tn.now)  # the daily tip (and later the reflection) starts
    tn.send(
        tn.t("setup.done", summary=Html(summary(tn.agent, tn.now))),
        [[button(tn.t("button.open_settings"), "st", "open", "panel")]],
    )


def answered_line(tn: Turn, step: str) -> str:
    setting = SETTING_OF_STEP[step]
    return tn.t(
        "setup.answered", setting=tn.t(f"setting.{setting}"), value=Html(setting_value(tn.agent, setting, tn.now))
    )
