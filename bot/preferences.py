"""The agent's settings as values: parsing what an agent types and formatting it back in their language.

Parsers return None for anything they do not accept, so callers answer with the accepted form and change
nothing. Day names come from CLDR (Babel), in every language we speak, so "sun", "周日", "週日" and
"Sunday" all mean ISO weekday 7. Every weekday the bot shows goes through `weekday_name`, in one style per language
(周日, 週日, Sun), never 星期日 next to 周日.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from typing import TYPE_CHECKING, Literal

from babel.dates import get_day_names

from bot.day_parts import DEFAULT_DAY_PARTS, DayPart
from bot.i18n import BABEL_LOCALES, EN, LANGUAGES, ZH_HANS, ZH_HANT
from bot.time_of_day import read_time_of_day

if TYPE_CHECKING:
    from bot.models import Agent

ALL_DAYS = "1234567"
DayWidth = Literal["abbreviated", "wide"]
# The one weekday style each language shows: CLDR's abbreviated names are 周日 (zh-Hans), 週日 (zh-Hant), Sun.
SHOWN_DAY_WIDTH: DayWidth = "abbreviated"
_FULLWIDTH = str.maketrans("０１２３４５６７８９：，－～", "0123456789:,-~")


def parse_time_of_day(text: str) -> time | None:
    """'21:30', '9pm', '晚上九点半', '下午三点一刻', 'noon' → a time; a bare number or anything else → None."""
    return read_time_of_day(text)


def format_time(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


# The hour a part of day means when the agent names no hour ("明天下午", "saturday morning"): bot.day_parts holds
# the parts and the bot's defaults (早上 9, 上午 10, 中午 12, 下午 15, 傍晚 18, 晚上 20); each agent may change any.
DEFAULT_DAY_PART_HOURS: dict[DayPart, time] = dict(DEFAULT_DAY_PARTS)
DAY_PARTS: tuple[DayPart, ...] = tuple(DayPart)


def day_part_hours(agent: Agent) -> dict[DayPart, time]:
    """Every part of day's hour for this agent: the defaults, with what the agent changed (anything stored that
    is not a known part with an HH:MM time is ignored)."""
    hours = dict(DEFAULT_DAY_PART_HOURS)
    for part, value in (agent.day_part_hours or {}).items():
        at = parse_time_of_day(value) if isinstance(value, str) else None
        if part in hours and at is not None:
            hours[DayPart(part)] = at
    return hours


def with_day_part_hour(agent: Agent, part: str, at: time | None) -> dict[str, str] | None:
    """The stored value once `part` means `at` (None: its default again); None when every part is the default."""
    if part not in DEFAULT_DAY_PART_HOURS:
        raise ValueError(f"unknown part of day {part!r}")
    changed = {name: format_time(value) for name, value in day_part_hours(agent).items()}
    changed[DayPart(part)] = format_time(at or DEFAULT_DAY_PART_HOURS[DayPart(part)])
    kept = {str(name): value for name, value in changed.items() if value != format_time(DEFAULT_DAY_PART_HOURS[name])}
    return kept or None


@cache
def _weekday_words() -> dict[str, int]:
    """Every way we accept to name a weekday, folded to lower case → ISO weekday."""
    words: dict[str, int] = {}
    for language in LANGUAGES:
        for width in ("wide", "abbreviated"):
            for index, name in get_day_names(width, locale=BABEL_LOCALES[language]).items():
                words[str(name).lower()] = index + 1
    chinese_digits = "一二三四五六日"
    for iso, digit in enumerate(chinese_digits, start=1):
        for prefix in ("周", "週", "星期", "礼拜", "禮拜"):
            words[prefix + digit] = iso
    for prefix in ("周", "週", "星期", "礼拜", "禮拜"):
        words[prefix + "天"] = 7
    for iso in range(1, 8):
        words[str(iso)] = iso
    return words


def parse_weekday(text: str) -> int | None:
    """'sun', 'Sunday', '周日', '星期天', '週日', '7' → 7 (ISO weekday)."""
    return _weekday_words().get(text.strip().lower().translate(_FULLWIDTH).rstrip("."))


def weekday_name(iso_weekday: int, language: str) -> str:
    """The weekday as every reply shows it: 周日, 週日, Sun."""
    return str(get_day_names(SHOWN_DAY_WIDTH, locale=BABEL_LOCALES[language])[iso_weekday - 1])


def zone_display_name(zone_name: str, language: str) -> str | None:
    """A zone as people name it in `language` (CLDR via Babel): 中国时间, 澳大利亚东部时间, Pacific Time.

    Never a city the agent did not choose (深圳 is in 中国时间, not in 北京/上海), never an IANA id; None for a zone
    that is only an offset (Etc/GMT-8, UTC), which is shown as its offset alone.
    """
    if zone_name.startswith("Etc/") or "/" not in zone_name:
        return None
    from babel.dates import get_timezone_name

    return str(get_timezone_name(zone_name, locale=BABEL_LOCALES[language]))


def typed_place(text: str) -> str | None:
    """What the agent typed for their time zone, when it names a place (深圳, hong kong) rather than a zone id
    (Asia/Shanghai) or an offset (UTC+8): echoed back as they wrote it."""
    place = " ".join(text.split())
    if not place or "/" in place or any(ch.isdigit() for ch in place) or place.upper() in ("UTC", "GMT", "Z"):
        return None
    return place


def parse_work_days(text: str) -> str | None:
    """'1-6', '1,2,3,4,5', '1-5 7', 'mon-fri', '周一至周六' → '123456' (ISO weekday digits, sorted)."""
    text = text.strip().lower().translate(_FULLWIDTH)
    text = re.sub(r"\s*(?:至|到|~|—|to)\s*", "-", text)
    days: set[int] = set()
    for part in filter(None, re.split(r"[\s,，、;/]+", text)):
        first, dash, last = part.partition("-")
        start = parse_weekday(first)
        end = parse_weekday(last) if dash else start
        if start is None or end is None or end < start:
            return None
        days.update(range(start, end + 1))
    return "".join(str(day) for day in sorted(days)) or None


def format_work_days(days: str, language: str) -> str:
    """'123456' → '周一至周六' style ranges, in the agent's language."""
    numbers = [int(day) for day in days]
    runs: list[tuple[int, int]] = []
    for day in numbers:
        if runs and runs[-1][1] == day - 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    joiner = "–" if language == EN else "至"
    separator = ", " if language == EN else "、"
    parts = []
    for start, end in runs:
        if start == end:
            parts.append(weekday_name(start, language))
        elif end == start + 1:
            parts.append(weekday_name(start, language) + separator + weekday_name(end, language))
        else:
            parts.append(weekday_name(start, language) + joiner + weekday_name(end, language))
    return separator.join(parts)


def toggle_work_day(days: str, day: int) -> str:
    chosen = set(days) ^ {str(day)}
    return "".join(sorted(chosen))


@dataclass(frozen=True)
class Digest:
    weekday: int
    at: time


def parse_digest(text: str) -> Digest | None:
    """'sun 20:00', '周日 20:00', 'Sunday 8 pm', '周日 晚上八点' → Digest(7, 20:00)."""
    parts = text.strip().translate(_FULLWIDTH).split(maxsplit=1)  # the time may have spaces: "sun 9:30 pm"
    if len(parts) != 2:
        return None
    weekday, at = parse_weekday(parts[0]), parse_time_of_day(parts[1])
    if weekday is None or at is None:
        return None
    return Digest(weekday, at)


OFF_WORDS = frozenset({"off", "no", "none", "关", "關", "关闭", "關閉", "不要", "停"})


def is_off(text: str) -> bool:
    return text.strip().lower() in OFF_WORDS


_LANGUAGE_WORDS = {
    "zh-hans": ZH_HANS,
    "zh": ZH_HANS,
    "zh-cn": ZH_HANS,
    "cn": ZH_HANS,
    "简体": ZH_HANS,
    "简体中文": ZH_HANS,
    "中文": ZH_HANS,
    "简": ZH_HANS,
    "en": EN,
    "english": EN,
    "英文": EN,
    "英語": EN,
    "英语": EN,
    "zh-hant": ZH_HANT,
    "zh-tw": ZH_HANT,
    "zh-hk": ZH_HANT,
    "tw": ZH_HANT,
    "hk": ZH_HANT,
    "繁體": ZH_HANT,
    "繁体": ZH_HANT,
    "繁體中文": ZH_HANT,
    "繁体中文": ZH_HANT,
    "繁": ZH_HANT,
}


def parse_language(text: str) -> str | None:
    """'en', 'English', '简体中文', 'zh-Hant', '繁體' → one of our language codes."""
    return _LANGUAGE_WORDS.get(text.strip().lower().replace("_", "-"))


# Setting name → the Agent fields it sets; shared by onboarding, /settings buttons and one-line forms.
SETTINGS: tuple[str, ...] = ("language", "timezone", "reflection", "workdays", "digest", "tip", "followup")


def parse_setting(step: str, text: str) -> dict[str, object] | None:
    """Validated Agent field values for what the agent typed at `step`, or None if it is not accepted.

    `step` is an onboarding step or a /settings name: language, timezone, reflection, workdays,
    digest (day and time), digest_day (a day, optionally with a time), digest_time, tip.
    """
    from bot.timezones import resolve_timezone

    if step == "language":
        language = parse_language(text)
        return {"language": language} if language else None
    if step == "timezone":
        zone_name = resolve_timezone(text)
        # The place as typed (深圳) is kept to show; a zone id or a button clears it.
        return {"timezone": zone_name, "timezone_place": typed_place(text)} if zone_name else None
    if step == "reflection":
        at = parse_time_of_day(text)
        return {"reflection_time": at} if at else None
    if step == "workdays":
        days = parse_work_days(text)
        return {"work_days": days} if days else None
    if step in ("digest", "digest_day"):
        digest = parse_digest(text)
        if digest:
            return {"digest_weekday": digest.weekday, "digest_time": digest.at}
        weekday = parse_weekday(text) if step == "digest_day" else None
        return {"digest_weekday": weekday} if weekday else None
    if step == "digest_time":
        at = parse_time_of_day(text)
        return {"digest_time": at} if at else None
    if step == "followup":
        at = parse_time_of_day(text)
        return {"followup_time": at} if at else None
    if step == "tip":
        if is_off(text):
            return {"tip_time": None}
        at = parse_time_of_day(text)
        return {"tip_time": at} if at else None
    raise ValueError(f"unknown setting {step!r}")


_SETTING_WORDS = {
    "lang": "language",
    "language": "language",
    "语言": "language",
    "語言": "language",
    "tz": "timezone",
    "timezone": "timezone",
    "zone": "timezone",
    "时区": "timezone",
    "時區": "timezone",
    "reflect": "reflection",
    "reflection": "reflection",
    "复盘": "reflection",
    "復盤": "reflection",
    "反思": "reflection",
    "digest": "digest",
    "周报": "digest",
    "週報": "digest",
    "周总结": "digest",
    "週總結": "digest",
    "tip": "tip",
    "followup": "followup",
    "follow-up": "followup",
    "跟进": "followup",
    "跟進": "followup",
    "tips": "tip",
    "贴士": "tip",
    "貼士": "tip",
    "提示": "tip",
    "stale": "stale",  # the going-cold alert's rule: handlers/stale_rule.py reads the rest of the line
    "cold": "stale",
    "断联": "stale",
    "斷聯": "stale",
    "掉盘": "stale",
    "掉盤": "stale",
    "workdays": "workdays",
    "workday": "workdays",
    "days": "workdays",
    "工作日": "workdays",
}


def parse_setting_name(text: str) -> str | None:
    """'/settings tz …' → 'timezone'; Chinese names work too ('时区')."""
    return _SETTING_WORDS.get(text.strip().lower())


# How a date, its weekday (from `weekday_name`) and a clock time are put together, per language.
_DATED = {EN: "{weekday} {date}"}
_CHINESE_DATED = "{date} {weekday}"
_MOMENT = {EN: "{weekday} {date}, {time}"}
_CHINESE_MOMENT = "{date} {weekday} {time}"
# The date alone: (this year, another year).
_DATE_PATTERNS = {EN: ("d MMM", "d MMM y")}
_CHINESE_DATE_PATTERNS = ("M月d日", "y年M月d日")


def format_moment(moment: datetime, zone_name: str, language: str, now: datetime | None = None) -> str:
    """'11月27日 周五 15:00' / 'Fri 27 Nov, 15:00' in the agent's zone; the year only when it is not this one."""
    from bot.timezones import local_datetime

    local = local_datetime(moment, zone_name)
    same_year = now is None or local_datetime(now, zone_name).year == local.year
    day = _format_date(local.date(), language, with_year=not same_year)
    template = _MOMENT.get(language, _CHINESE_MOMENT)
    return template.format(date=day, weekday=weekday_name(local.isoweekday(), language), time=format_time(local.time()))


def format_day(day: date, language: str) -> str:
    """'2026年11月25日 周三' / 'Wed 25 Nov 2026': a journal day, with its weekday."""
    shown = _format_date(day, language, with_year=True)
    return _DATED.get(language, _CHINESE_DATED).format(date=shown, weekday=weekday_name(day.isoweekday(), language))


def format_span(first: date, last: date, language: str, today: date | None = None) -> str:
    """'11月30日–12月6日' / '30 Nov – 6 Dec': a week; the years only when it is not `today`'s year."""
    with_year = today is not None and (first.year != today.year or last.year != today.year)
    joiner = " – " if language == EN else "–"
    return joiner.join(_format_date(day, language, with_year=with_year) for day in (first, last))


def _format_date(day: date, language: str, *, with_year: bool) -> str:
    from babel.dates import format_date

    this_year, other_year = _DATE_PATTERNS.get(language, _CHINESE_DATE_PATTERNS)
    return str(format_date(day, other_year if with_year else this_year, locale=BABEL_LOCALES[language]))
