"""/settings → ⏳ Going-cold alert: how many days each stage may go without a real contact (bot.stale).

The view lists the five watched stages with their days and a ➖ / ➕ pair each (a day at a time up to 10, then
five; ➖ at 2 days switches the stage off, ➕ switches it back on), ↺ puts the defaults back, ⬅️ returns to the
settings panel; a press that would change nothing (➖ on a stage that is off, ➕ at 99 days, ↺ on the defaults)
leaves the view as it is. Typed at once: `/settings stale interested 10`, `/settings stale 意向 10`,
`/settings stale 成交 off`, `/settings stale default`; anything else gets the accepted forms back and changes
nothing. A change applies from the next warning on (the waiting one is rescheduled, and none waits while every
stage is off).
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot import recurring, stale
from bot.agents import change_settings
from bot.i18n import Html, t
from bot.models import Agent
from bot.preferences import format_time
from handlers.context import Turn, turn
from handlers.keyboards import Choice, button, layout

PREFIX = "cr"
# cr:open:panel, cr:reset:all, cr:minus|plus|info:<stage> (cr: the cold rule)
PRESS = layout(PREFIX, ("open", "reset", "minus", "plus", "info"), Choice("panel", "all", *stale.WATCHED))


def stages_text(agent: Agent) -> str:
    """'新客户 3 · 意向 7 · 带看 3 · 下定 2 · 成交 30' (a stage switched off says so): the panel's line and /stale's."""
    lang = agent.language
    parts = [
        t(lang, "stale.rule.stage", stage=t(lang, f"stage.{stage}"), days=days)
        if days is not None
        else t(lang, "stale.rule.stage_off", stage=t(lang, f"stage.{stage}"))
        for stage, days in stale.rule(agent).items()
    ]
    return t(lang, "stale.rule.separator").join(parts)


def panel_line(agent: Agent) -> str:
    """The settings panel's line for the rule."""
    return t(agent.language, "stale.setting.line", stages=stages_text(agent))


def view(tn: Turn) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """Each stage with its days and ➖ / ➕, then ↺ defaults and ⬅️ back to the panel."""
    rows, lines = [], []
    for stage, days in stale.rule(tn.agent).items():
        name = tn.t(f"stage.{stage}")
        line = (
            tn.t("stale.rule.view_off", stage=name)
            if days is None
            else tn.t("stale.rule.view_line", stage=name, count=days)
        )
        lines.append(line)
        rows.append(
            [
                button("➖", PREFIX, "minus", stage),
                button(line, PREFIX, "info", stage),
                button("➕", PREFIX, "plus", stage),
            ]
        )
    rows.append(
        [button(tn.t("stale.rule.reset"), PREFIX, "reset", "all"), button(tn.t("button.back"), "st", "back", "panel")]
    )
    text = tn.t("stale.rule.title", time=format_time(tn.agent.followup_time), lines=Html("\n".join(lines)))
    return text, rows


async def save(tn: Turn, stale_days: dict[str, int | None] | None) -> None:
    """Store the rule; the waiting warning is replaced, so the next one follows it."""
    change_settings(tn.agent, tn.now, stale_days=stale_days)
    if tn.agent.setup_step is None:
        await recurring.reschedule(tn.session, tn.agent, tn.now, [recurring.STALE_WARNING])


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """⏳ opened from the panel, ➖ / ➕ on a stage, or ↺ defaults."""
    async with turn(update, context) as tn:
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        action, value = fields
        if action == "open" and value == "panel":
            tn.edit(*view(tn))
        elif action == "reset" and value == "all":
            if tn.agent.stale_days is None:
                return  # the defaults already: nothing to store, and no "reset" to announce
            await save(tn, None)
            text, rows = view(tn)
            tn.edit(tn.t("stale.rule.after_reset", view=Html(text)), rows)
        elif action in ("minus", "plus") and value in stale.WATCHED:
            days = stale.rule(tn.agent)[value]
            stepped = stale.stepped(days, up=action == "plus")
            if stepped == days:
                return  # ➖ on a stage that is off, ➕ at the most days: nothing to store or redraw
            await save(tn, stale.with_stage_days(tn.agent, value, stepped))
            tn.edit(*view(tn))
        elif action == "info" and value in stale.WATCHED:
            tn.toast(tn.t("stale.rule.use_buttons"))
        else:
            tn.refuse()


async def change_by_line(tn: Turn, words: list[str]) -> None:
    """`/settings stale <stage> <days|off>` or `/settings stale default`."""
    change = stale.parse_rule_change(words)
    if change is None:
        tn.send(tn.t("stale.rule.invalid"))
        return
    await save(tn, None if change.stage is None else stale.with_stage_days(tn.agent, change.stage, change.days))
    tn.send(tn.t("stale.rule.saved", stages=stages_text(tn.agent)))
