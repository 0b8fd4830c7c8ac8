"""Onboarding.

/start greets a new agent, then asks one question at a time, each with buttons and each also answerable
by typing: language, time zone, daily reflection time, work days, weekly digest day and time, daily tip.
Every answer is saved as it comes and `Agent.setup_step` remembers the next question, so a restart, a
/cancel or a detour through another command resumes at the same question. The last answer brings a
confirmation that shows every choice. /start after setup welcomes the agent back and changes nothing.

/start <code> is how an invite's deep link (t.me/<bot>?start=<code>) arrives: the code is redeemed as the agent
is loaded (handlers.context.turn, bot.access; in invite mode it is the only way in), and its first line says
which team they joined, or why the code did not work; onboarding then goes on as usual.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import recurring
from bot.agents import SETUP_STEPS, advance_setup, change_settings, restart_setup
from bot.conversations import Flow, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import parse_setting, toggle_work_day, typed_place
from handlers.context import Turn, turn
from handlers.keyboards import Number, Token, button, layout
from handlers.setting_views import SETTING_OF_STEP, question, setting_value, summary
from handlers.team import redemption_line

PREFIX = "ob"
FLOW = Flow.ONBOARDING


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: begin or resume onboarding, or welcome back an agent who is set up (after the invite's line)."""
    async with turn(update, context, invite=invite_code(context)) as tn:
        tn.update_menu()
        if tn.redemption is not None:
            tn.send(redemption_line(tn, tn.redemption))
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


def invite_code(context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """What follows /start: an invite's code (whatever it is, redeeming it says whether it is one)."""
    words = context.args or []
    return words[0][:128] if words else None


async def ask(tn: Turn, step: str) -> None:
    """Ask the question for `step` and wait for its answer (a button or typed text)."""
    text, rows = question(step, tn.agent, PREFIX)
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step), tn.now)
    tn.send(text, rows)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on an onboarding question (`ob:<step>:<value>`)."""
    async with turn(update, context) as tn:
        if (day := tn.matches(WORKDAY)) is not None:
            await toggle_workday(tn, day[1])
            return
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        step, value = fields
        if step == "restart":
            restart_setup(tn.agent, tn.now)
            tn.edit_buttons(None)
            await ask(tn, SETUP_STEPS[0])
        elif tn.agent.setup_step != step:
            tn.toast(tn.t("setup.step_done"))
        elif step == "workdays":
            await workdays_done(tn, value)
        else:
            values = parse_setting(step, value)
            if values is None:
                tn.toast(tn.t("error.stale_button"))
                return
            answered = await apply_answer(tn, step, values)
            tn.edit(answered_line(tn, step))
            await proceed(tn, answered)


async def toggle_workday(tn: Turn, day: int) -> None:
    """A day switches on or off in place (only while the question is open)."""
    if tn.agent.setup_step != "workdays":
        tn.toast(tn.t("setup.step_done"))
        return
    change_settings(tn.agent, tn.now, work_days=toggle_work_day(tn.agent.work_days, day))
    tn.edit_buttons(question("workdays", tn.agent, PREFIX)[1])


async def workdays_done(tn: Turn, value: str) -> None:
    """ "done" answers the work days question."""
    if value != "done":
        tn.refuse()
        return
    if not tn.agent.work_days:
        tn.toast(tn.t("invalid.workdays_none"), alert=True)
        return
    tn.edit(answered_line(tn, "workdays"))
    await proceed(tn, "workdays")


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while onboarding waits for an answer."""
    step = tn.agent.setup_step
    if step is None or step != waiting.step:
        # The flow moved on (e.g. a button answered it): ask what is actually next.
        await stop_waiting(tn.session, tn.agent.chat_id)
        if step is not None:
            await ask(tn, step)
        return
    values = parse_setting(step, tn.typed)
    if values is None:
        tn.send(tn.t(f"invalid.{step}"))
        return
    answered = await apply_answer(tn, step, values)
    tn.send(answered_line(tn, step, typed_place(tn.typed) if step == "timezone" else None))
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


# ob:workdays:<ISO weekday>; ob:<step>:<value> (read by the step's parser), ob:restart:yes
WORKDAY = layout(PREFIX, "workdays", Number(1, 7))
PRESS = layout(PREFIX, ("restart", *SETUP_STEPS), Token(48))


def answered_line(tn: Turn, step: str, place: str | None = None) -> str:
    """'✓ 时区：深圳（中国时间，UTC+08:00）': the answer as the agent gave it."""
    setting = SETTING_OF_STEP[step]
    value = Html(setting_value(tn.agent, setting, tn.now, place))
    return tn.t("setup.answered", setting=tn.t(f"setting.{setting}"), value=value)
