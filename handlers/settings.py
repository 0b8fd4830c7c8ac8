"""/settings: every setting on one panel, each with a button.

A button opens the same question onboarding asks (typing the answer works too); answering returns to the
panel with what changed. Fast typists use one-line forms: `/settings tz Asia/Hong_Kong`,
`/settings reflect 21:30`, `/settings digest sun 20:00`, `/settings tip off`, `/settings workdays 1-6`,
`/settings lang en`. A value that is not accepted gets the accepted form back and changes nothing.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import recurring
from bot.agents import change_settings
from bot.conversations import Flow, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import SETTINGS, parse_setting, parse_setting_name, toggle_work_day, typed_place
from bot.text import clip
from handlers import followups, stale_rule
from handlers.context import Turn, turn
from handlers.keyboards import Number, Token, button, grid, layout
from handlers.setting_views import question, setting_value, summary

PREFIX = "st"
FLOW = Flow.SETTINGS
# The first question a setting's button opens.
FIRST_STEP = {
    "language": "language",
    "timezone": "timezone",
    "reflection": "reflection",
    "workdays": "workdays",
    "digest": "digest_day",
    "tip": "tip",
    "followup": "followup",
}
QUESTION_STEPS = frozenset({*FIRST_STEP.values(), "digest_time"})
# How much of what the agent typed is echoed back in an answer.
ECHO_LIMIT = 100
# st:workdays:<ISO weekday>; st:<step>:<value> (read by the step's parser, or a panel word)
WORKDAY = layout(PREFIX, "workdays", Number(1, 7))
PRESS = layout(PREFIX, ("open", "back", "close", *QUESTION_STEPS), Token(48))


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings shows the panel; /settings <name> <value> changes one setting at once."""
    async with turn(update, context) as tn:
        if tn.args:
            await change_by_line(tn, tn.args)
        else:
            tn.send(panel_text(tn), panel_rows(tn))


async def change_by_line(tn: Turn, args: list[str]) -> None:
    setting = parse_setting_name(args[0])
    if setting == "stale":
        await stale_rule.change_by_line(tn, args[1:])
        return
    if setting is None:
        tn.send(tn.t("settings.unknown", name=clip(args[0], ECHO_LIMIT), usage=Html(tn.t("settings.usage"))))
        return
    value = " ".join(args[1:])
    values = parse_setting(setting, value) if value else None
    if values is None:
        problem, form = Html(tn.t(f"invalid.{setting}")), Html(tn.t(f"settings.form.{setting}"))
        tn.send(tn.t("settings.invalid", problem=problem, form=form))
        return
    await save(tn, values)
    tn.send(saved_text(tn, setting, typed_place(value) if setting == "timezone" else None))


async def save(tn: Turn, values: dict[str, object]) -> None:
    old_zone = tn.agent.timezone
    change_settings(tn.agent, tn.now, **values)
    if "language" in values:
        tn.update_menu()
    if RESCHEDULING.intersection(values) and tn.agent.setup_step is None:
        await recurring.reschedule(tn.session, tn.agent, tn.now)
    if "followup_time" in values and tn.agent.setup_step is None:  # the going-cold warning comes at that time
        await recurring.reschedule(tn.session, tn.agent, tn.now, [recurring.STALE_WARNING])
    if tn.agent.timezone != old_zone and tn.agent.setup_step is None:
        await followups.after_zone_change(tn, old_zone)  # what moved, and "keep the local times"


# Settings the recurring deliveries (daily tip, reflection prompt, weekly digest) are computed from: a change
# moves the one that is waiting.
RESCHEDULING = frozenset({"timezone", "work_days", "tip_time", "reflection_time", "digest_weekday", "digest_time"})


def saved_text(tn: Turn, setting: str, place: str | None = None) -> str:
    value = Html(setting_value(tn.agent, setting, tn.now, place))
    return tn.t("settings.saved", setting=tn.t(f"setting.{setting}"), value=value)


def every_setting(tn: Turn) -> Html:
    """Every setting, one per line, the 掉盘 rule's last (the panel and the closed panel show the same)."""
    return Html(summary(tn.agent, tn.now) + "\n" + stale_rule.panel_line(tn.agent))


def panel_text(tn: Turn, note: str | None = None) -> str:
    text = tn.t("settings.panel", summary=every_setting(tn))
    return tn.t("settings.panel_after_change", change=Html(note), panel=Html(text)) if note else text


def panel_rows(tn: Turn) -> list[list[InlineKeyboardButton]]:
    buttons = [button(tn.t(f"button.edit.{name}"), PREFIX, "open", name) for name in SETTINGS]
    buttons.append(button(tn.t("stale.setting.button"), stale_rule.PREFIX, "open", "panel"))
    return [*grid(buttons, 2), [button(tn.t("button.close"), PREFIX, "close", "panel")]]


def question_rows(tn: Turn, step: str) -> list[list[InlineKeyboardButton]]:
    _, rows = question(step, tn.agent, PREFIX)
    return [*rows, [button(tn.t("button.back"), PREFIX, "back", "panel")]]


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on the panel or on one of its questions (`st:<step>:<value>`)."""
    async with turn(update, context) as tn:
        if (day := tn.matches(WORKDAY)) is not None:
            change_settings(tn.agent, tn.now, work_days=toggle_work_day(tn.agent.work_days, day[1]))
            tn.edit_buttons(question_rows(tn, "workdays"))
            return
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        step, value = fields
        if step == "open" and value == "panel":
            tn.send(panel_text(tn), panel_rows(tn))
        elif step == "open" and value in FIRST_STEP:
            await open_question(tn, FIRST_STEP[value], in_place=True)
        elif step in ("back", "close"):
            await stop_waiting(tn.session, tn.agent.chat_id)
            if step == "back":
                tn.edit(panel_text(tn), panel_rows(tn))
            else:
                tn.edit(tn.t("settings.closed", summary=every_setting(tn)))
        elif step == "workdays" and value != "done":
            tn.refuse()
        elif step == "workdays":
            if not tn.agent.work_days:
                tn.toast(tn.t("invalid.workdays_none"), alert=True)
                return
            await answered(tn, step, {"work_days": tn.agent.work_days}, in_place=True)
        else:
            values = parse_setting(step, value) if step in QUESTION_STEPS else None
            if values is None:
                tn.toast(tn.t("error.stale_button"))
                return
            await answered(tn, step, values, in_place=True)


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a settings question waits for an answer."""
    values = parse_setting(waiting.step, tn.typed)
    if values is None:
        tn.send(tn.t(f"invalid.{waiting.step}"))
        return
    place = typed_place(tn.typed) if waiting.step == "timezone" else None
    await answered(tn, waiting.step, values, in_place=False, place=place)


async def answered(tn: Turn, step: str, values: dict[str, object], *, in_place: bool, place: str | None = None) -> None:
    """Save an answer; then the digest's time question, or the panel showing what changed."""
    await save(tn, values)
    if step == "digest_day" and "digest_time" not in values:
        await open_question(tn, "digest_time", in_place=in_place)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    setting = "digest" if step in ("digest_day", "digest_time") else step
    show = tn.edit if in_place else tn.send
    show(panel_text(tn, saved_text(tn, setting, place)), panel_rows(tn))


async def open_question(tn: Turn, step: str, *, in_place: bool) -> None:
    """Show a setting's question (in place of the pressed message, or as a new one); typing answers it too."""
    text, _ = question(step, tn.agent, PREFIX)
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step), tn.now)
    show = tn.edit if in_place else tn.send
    show(text, question_rows(tn, step))
