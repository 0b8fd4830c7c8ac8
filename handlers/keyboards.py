"""Inline keyboards and their callback data: packed as `prefix:step:value`, checked against Telegram's 64 bytes.

Times travel as `21.30` (no colon) so that the separator stays unambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import LANGUAGES, t
from bot.preferences import format_time, weekday_name
from bot.timezones import COMMON_ZONES

MAX_CALLBACK_BYTES = 64
CHECK = "✓ "


def pack(*parts: object) -> str:
    data = ":".join(str(part) for part in parts)
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def unpack(data: str | None, parts: int) -> list[str] | None:
    """Split callback data into exactly `parts` fields, or None if it is malformed (forged or stale)."""
    if not data or len(data.encode()) > MAX_CALLBACK_BYTES:
        return None
    fields = data.split(":", parts - 1)
    return fields if len(fields) == parts and all(fields) else None


def time_value(at: time) -> str:
    return f"{at.hour:02d}.{at.minute:02d}"


def button(text: str, *parts: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=pack(*parts))


def grid(buttons: Sequence[InlineKeyboardButton], per_row: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def mark(label: str, chosen: bool) -> str:
    return CHECK + label if chosen else label


def language_rows(prefix: str, current: str) -> list[list[InlineKeyboardButton]]:
    # Each language is named in itself, so every agent can find theirs.
    return [[button(mark(t(code, "language.name"), code == current), prefix, "language", code) for code in LANGUAGES]]


def timezone_rows(prefix: str, lang: str, current: str) -> list[list[InlineKeyboardButton]]:
    buttons = [
        button(mark(t(lang, f"zone.{name}"), name == current), prefix, "timezone", name) for name in COMMON_ZONES
    ]
    return grid(buttons, 3)


def time_rows(
    prefix: str, step: str, options: Sequence[time], current: time | None
) -> list[list[InlineKeyboardButton]]:
    buttons = [button(mark(format_time(at), at == current), prefix, step, time_value(at)) for at in options]
    return grid(buttons, 3)


def weekday_rows(
    prefix: str, step: str, lang: str, days: Sequence[int], current: int
) -> list[list[InlineKeyboardButton]]:
    buttons = [button(mark(weekday_name(day, lang), day == current), prefix, step, day) for day in days]
    return grid(buttons, 4)


def workday_rows(prefix: str, lang: str, chosen: str) -> list[list[InlineKeyboardButton]]:
    days = [button(mark(weekday_name(day, lang), str(day) in chosen), prefix, "workdays", day) for day in range(1, 8)]
    return [*grid(days, 4), [button(t(lang, "button.done"), prefix, "workdays", "done")]]


def markup(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(rows)


def paging_row(labels: tuple[str, str], page: int, pages: int, *parts: object) -> list[list[InlineKeyboardButton]]:
    """◀️ / ▶️ for a paged list (none on a single page); the page number is the last callback field."""
    previous, following = labels
    row = []
    if page > 0:
        row.append(button(previous, *parts, page - 1))
    if page < pages - 1:
        row.append(button(following, *parts, page + 1))
    return [row] if row else []
