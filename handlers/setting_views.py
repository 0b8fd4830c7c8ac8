"""How each setting is asked and shown; onboarding and /settings ask the same questions with the same buttons."""

from __future__ import annotations

from datetime import datetime, time

from telegram import InlineKeyboardButton

from bot.i18n import Html, t
from bot.models import Agent
from bot.preferences import SETTINGS, format_time, format_work_days, weekday_name, zone_display_name
from bot.timezones import utc_offset_label
from handlers.keyboards import button, language_rows, time_rows, timezone_rows, weekday_rows, workday_rows

REFLECTION_TIMES = tuple(time(h, m) for h, m in ((18, 0), (19, 0), (20, 0), (21, 0), (21, 30), (22, 0)))
DIGEST_DAYS = (5, 6, 7, 1)
DIGEST_TIMES = tuple(time(h) for h in (9, 12, 18, 19, 20, 21))
FOLLOWUP_TIMES = tuple(time(h) for h in (9, 10, 11, 14, 15, 16))
TIP_TIMES = tuple(time(h, m) for h, m in ((7, 30), (8, 0), (8, 30), (9, 0), (9, 30), (12, 0)))

# Which setting (as /settings names it) each question belongs to.
SETTING_OF_STEP = {
    "language": "language",
    "timezone": "timezone",
    "reflection": "reflection",
    "workdays": "workdays",
    "digest_day": "digest",
    "digest_time": "digest",
    "tip": "tip",
    "followup": "followup",
}


def question(step: str, agent: Agent, prefix: str) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """The question for `step` and its buttons, with the agent's current value marked."""
    lang = agent.language
    text = t(lang, f"ask.{step}")
    if step == "language":
        return text, language_rows(prefix, agent.language)
    if step == "timezone":
        return text, timezone_rows(prefix, lang, agent.timezone)
    if step == "reflection":
        return text, time_rows(prefix, step, REFLECTION_TIMES, agent.reflection_time)
    if step == "workdays":
        return text, workday_rows(prefix, lang, agent.work_days)
    if step == "digest_day":
        return text, weekday_rows(prefix, step, lang, DIGEST_DAYS, agent.digest_weekday)
    if step == "digest_time":
        return text, time_rows(prefix, step, DIGEST_TIMES, agent.digest_time)
    if step == "followup":
        rows = time_rows(prefix, step, FOLLOWUP_TIMES, agent.followup_time)
        rows.append([button(t(lang, "dayparts.open"), "dp", "open", "panel")])  # handlers/day_parts.py
        return text, rows
    if step == "tip":
        rows = time_rows(prefix, step, TIP_TIMES, agent.tip_time)
        label = t(lang, "button.tip_off")
        rows.append([button(("✓ " + label) if agent.tip_time is None else label, prefix, step, "off")])
        return text, rows
    raise ValueError(f"unknown step {step!r}")


def zone_label(zone_name: str, lang: str, now: datetime, place: str | None = None) -> str:
    """'深圳（中国时间，UTC+08:00）' right after the agent typed 深圳; '中国时间（UTC+08:00）' afterwards."""
    offset = utc_offset_label(zone_name, now)
    name = zone_display_name(zone_name, lang)
    if name is None:
        return t(lang, "zone.plain", zone=place, offset=offset) if place else offset
    if place and place.casefold() not in name.casefold():
        return t(lang, "zone.with_city", city=place, zone=name, offset=offset)
    return t(lang, "zone.plain", zone=name, offset=offset)


def setting_value(agent: Agent, setting: str, now: datetime, place: str | None = None) -> str:
    """The current value of a setting as the agent reads it (safe HTML); `place` is the time zone's place as the
    agent just typed it."""
    lang = agent.language
    if setting == "language":
        return t(lang, "language.name")
    if setting == "timezone":
        return zone_label(agent.timezone, lang, now, place or agent.timezone_place)
    if setting == "reflection":
        return t(lang, "value.reflection", time=format_time(agent.reflection_time))
    if setting == "workdays":
        return t(lang, "value.workdays", days=format_work_days(agent.work_days, lang))
    if setting == "digest":
        day = weekday_name(agent.digest_weekday, lang)
        return t(lang, "value.digest", day=day, time=format_time(agent.digest_time))
    if setting == "followup":
        return t(lang, "value.followup", time=format_time(agent.followup_time))
    if setting == "tip":
        if agent.tip_time is None:
            return t(lang, "value.tip_off")
        return t(lang, "value.tip_on", time=format_time(agent.tip_time))
    raise ValueError(f"unknown setting {setting!r}")


def summary(agent: Agent, now: datetime) -> str:
    """Every setting, one per line: shown at the end of onboarding and on /settings."""
    values = {name: Html(setting_value(agent, name, now)) for name in SETTINGS}
    return t(agent.language, "settings.summary", **values)
