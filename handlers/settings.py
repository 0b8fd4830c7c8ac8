"""/settings: every setting on one panel, each with a button.

A button opens the same question onboarding asks (typing the answer works too); answering returns to the
panel with what changed. Fast typists use one-line forms: `/settings tz Asia/Hong_Kong`,
`/settings reflect 21:30`, `/settings digest sun 20:00`, `/settings tip off`, `/settings workdays 1-6`,
`/settings lang en`. A value that is not accepted gets the accepted form back and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.agents import change_settings
from bot.conversations import Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import SETTINGS, parse_setting, parse_setting_name, toggle_work_day
from handlers.context import Turn, turn
from handlers.keyboards import button, grid, markup, unpack
from handlers.menus import set_chat_menu
from handlers.setting_views import question, setting_value, summary

PREFIX = "st"
FLOW = "settings"
# The first question a setting's button opens.
FIRST_STEP = {
    "language": "language",
    "timezone": "timezone",
    "reflection": "reflection",
    "workdays": "workdays",
    "digest": "digest_day",
    "tip": "tip",
}


async def show_settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings shows the panel; /settings <name> <value> changes one setting at once."""
    async with turn(update, context) as tn:
        args = context.args or []
        if not args:
            await context.bot.send_message(tn.agent.chat_id, panel_text(tn), reply_markup=markup(panel_rows(tn)))
            return
        await change_by_line(tn, update, context, args)


async def change_by_line(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, args: list[str]) -> None:
    message = update.effective_message
    assert message is not None
    setting = parse_setting_name(args[0])
    if setting is None:
        await message.reply_text(tn.t("settings.unknown", name=args[0], usage=Html(tn.t("settings.usage"))))
        return
    value = " ".join(args[1:])
    values = parse_setting(setting, value) if value else None
    if values is None:
        await message.reply_text(
            tn.t(
                "settings.invalid",
                problem=Html(tn.t(f"invalid.{setting}")),
                form=Html(tn.t(f"settings.form.{setting}")),
            )
        )
        return
    await save(tn, context, values)
    await message.reply_text(saved_text(tn, setting))


async def save(tn: Turn, context: ContextTypes.DEFAULT_TYPE, values: dict[str, object]) -> None:
    change_settings(tn.agent, tn.now, **values)
    if "language" in values:
        await set_chat_menu(context.bot, tn.agent.chat_id, tn.lang)


def saved_text(tn: Turn, setting: str) -> str:
    return tn.t(
        "settings.saved",
        setting=tn.t(f"setting.{setting}"),
        value=Html(setting_value(tn.agent, setting, tn.now)),
    )


def panel_text(tn: Turn, note: str | None = None) -> str:
    text = tn.t("settings.panel", summary=Html(summary(tn.agent, tn.now)))
    return tn.t("settings.panel_after_change", change=Html(note), panel=Html(text)) if note else text


def panel_rows(tn: Turn) -> list[list[InlineKeyboardButton]]:
    buttons = [button(tn.t(f"button.edit.{name}"), PREFIX, "open", name) for name in SETTINGS]
    return [*grid(buttons, 2), [button(tn.t("button.close"), PREFIX, "close", "panel")]]


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press on the panel or on one of its questions (`st:<step>:<value>`)."""
    query = update.callback_query
    assert query is not None
    fields = unpack(query.data, 3)
    async with turn(update, context) as tn:
        if fields is None:
            await query.answer(tn.t("error.stale_button"))
            return
        _, step, value = fields
        if step == "open" and value == "panel":
            await query.answer()
            await context.bot.send_message(tn.agent.chat_id, panel_text(tn), reply_markup=markup(panel_rows(tn)))
            return
        if step == "open" and value in FIRST_STEP:
            await query.answer()
            await open_question(tn, context, FIRST_STEP[value], query.edit_message_text)
            return
        if step == "back":
            await query.answer()
            await stop_waiting(tn.session, tn.agent.chat_id)
            await query.edit_message_text(panel_text(tn), reply_markup=markup(panel_rows(tn)))
            return
        if step == "close":
            await query.answer()
            await stop_waiting(tn.session, tn.agent.chat_id)
            await query.edit_message_text(tn.t("settings.closed", summary=Html(summary(tn.agent, tn.now))))
            return
        if step == "workdays" and value != "done":
            if not (value.isdigit() and 1 <= int(value) <= 7):
                await query.answer(tn.t("error.stale_button"))
                return
            change_settings(tn.agent, tn.now, work_days=toggle_work_day(tn.agent.work_days, int(value)))
            await query.answer()
            await query.edit_message_reply_markup(markup(question_rows(tn, "workdays")))
            return
        if step == "workdays":
            if not tn.agent.work_days:
                await query.answer(tn.t("invalid.workdays_none"), show_alert=True)
                return
            values: dict[str, object] | None = {}
        elif step in FIRST_STEP.values() or step == "digest_time":
            values = parse_setting(step, value)
        else:
            values = None
        if values is None:
            await query.answer(tn.t("error.stale_button"))
            return
        await query.answer()
        await save(tn, context, values)
        if step == "digest_day":
            await open_question(tn, context, "digest_time", query.edit_message_text)
            return
        await stop_waiting(tn.session, tn.agent.chat_id)
        setting = "digest" if step == "digest_time" else step
        await query.edit_message_text(panel_text(tn, saved_text(tn, setting)), reply_markup=markup(panel_rows(tn)))


def question_rows(tn: Turn, step: str) -> list[list[InlineKeyboardButton]]:
    _, rows = question(step, tn.agent, PREFIX)
    return [*rows, [button(tn.t("button.back"), PREFIX, "back", "panel")]]


async def open_question(
    tn: Turn, context: ContextTypes.DEFAULT_TYPE, step: str, show: Callable[..., Awaitable[object]]
) -> None:
    """Show a setting's question in place of the panel and accept a typed answer for it too."""
    text, _ = question(step, tn.agent, PREFIX)
    await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, step), tn.now)
    await show(text, reply_markup=markup(question_rows(tn, step)))


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """Typed text while a settings question waits for an answer."""
    message = update.effective_message
    assert message is not None and message.text is not None
    values = parse_setting(waiting.step, message.text)
    if values is None:
        await message.reply_text(tn.t(f"invalid.{waiting.step}"))
        return
    await save(tn, context, values)
    if waiting.step == "digest_day" and "digest_time" not in values:
        await open_question(tn, context, "digest_time", message.reply_text)
        return
    await stop_waiting(tn.session, tn.agent.chat_id)
    setting = "digest" if waiting.step in ("digest_day", "digest_time") else waiting.step
    await message.reply_text(panel_text(tn, saved_text(tn, setting)), reply_markup=markup(panel_rows(tn)))
