"""/settings → 🔔 Follow-up time → 🌗 Part-of-day times: what "明天下午" or "saturday morning" means in hours.

The panel lists the six parts of day with their hours (早上 09:00 … 晚上 20:00 unless changed); a press on one
asks for its new hour, typed as any time of day ("14:30", "2pm", "下午2点半"); ↺ puts every default back;
⬅️ returns to the settings panel. Nothing changes on an answer that is not a time.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from bot.agents import change_settings
from bot.conversations import Flow, Waiting, stop_waiting, wait_for
from bot.i18n import Html
from bot.preferences import DAY_PARTS, day_part_hours, format_time, parse_time_of_day, with_day_part_hour
from handlers.context import Turn, turn
from handlers.keyboards import Choice, button, grid, layout

PREFIX = "dp"
FLOW = Flow.DAY_PARTS
HOUR = "hour"
# dp:open:panel, dp:reset:all, dp:part:<part of day>
PRESS = layout(PREFIX, ("open", "reset", "part"), Choice("panel", "all", *DAY_PARTS))


def part_name(tn: Turn, part: str) -> str:
    return tn.t(f"dayparts.part.{part}")


def view(tn: Turn) -> tuple[str, list[list[InlineKeyboardButton]]]:
    hours = day_part_hours(tn.agent)
    lines = "\n".join(tn.t("dayparts.line", part=part_name(tn, p), time=format_time(hours[p])) for p in DAY_PARTS)
    rows = grid([button(label, PREFIX, "part", p) for label, p in zip(lines.split("\n"), DAY_PARTS, strict=True)], 2)
    rows.append(
        [button(tn.t("dayparts.reset"), PREFIX, "reset", "all"), button(tn.t("button.back"), "st", "back", "panel")]
    )
    return tn.t("dayparts.title", lines=Html(lines)), rows


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🌗 opened, a part of day picked, or ↺ defaults."""
    async with turn(update, context) as tn:
        fields = tn.pressed(PRESS)
        if fields is None:
            return
        action, value = fields
        if action == "open" and value == "panel":
            await stop_waiting(tn.session, tn.agent.chat_id)  # the follow-up hour question it was opened from
            tn.edit(*view(tn))
        elif action == "reset" and value == "all":
            change_settings(tn.agent, tn.now, day_part_hours=None)
            await stop_waiting(tn.session, tn.agent.chat_id)
            text, rows = view(tn)
            tn.edit(tn.t("dayparts.after_reset", view=Html(text)), rows)
        elif action == "part" and value in DAY_PARTS:
            await wait_for(tn.session, tn.agent.chat_id, Waiting(FLOW, HOUR, {"part": value}), tn.now)
            tn.send(tn.t("dayparts.ask", part=part_name(tn, value)))
        else:
            tn.refuse()


async def answer_text(tn: Turn, update: Update, context: ContextTypes.DEFAULT_TYPE, waiting: Waiting) -> None:
    """The new hour for the part of day picked; anything not a time is answered and changes nothing."""
    part = waiting.data.get("part")
    if part not in DAY_PARTS:
        await stop_waiting(tn.session, tn.agent.chat_id)
        tn.send(tn.t("error.stale_button"))
        return
    at = parse_time_of_day(tn.typed)
    if at is None:
        tn.send(tn.t("dayparts.invalid"))  # still waiting
        return
    change_settings(tn.agent, tn.now, day_part_hours=with_day_part_hour(tn.agent, str(part), at))
    await stop_waiting(tn.session, tn.agent.chat_id)
    text, rows = view(tn)
    tn.send(tn.t("dayparts.after_change", part=part_name(tn, str(part)), time=format_time(at), view=Html(text)), rows)
