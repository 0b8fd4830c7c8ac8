"""The small layer of rules in front of jionlp and dateparser: it rewrites what agents type into phrases the
libraries read right, and finds candidate phrases inside longer Chinese text.

It parses nothing itself: every rule turns our words into the libraries' words (an explicit date, an hour).
Each rule exists because the libraries answer a common phrase wrongly or not at all (docs/time-phrases.md):
- zh-Hant and full-width forms are folded to zh-Hans and ASCII character by character (禮拜六 → 礼拜六,
  １０點 → 10点); jionlp reads only simplified characters.
- 今晚/明晚/今早/明早 → 今天晚上/明天晚上/今天早上/明天早上; 周末 → 周六 (这周末, 下周末 alike).
- A weekday with no 这/本/下/上 (周六, 星期日, "saturday") is the next one to come: today if its time is still
  ahead, else the coming one; jionlp and dateparser read it as this Monday–Sunday week's. Rewritten as a date.
- Month parts (月底, 月初, 上旬, 中旬, 下旬, 月中, with 本月/下个月/12月 before them or not) become the date:
  月底 = the month's last day, 月初 and 上旬 = the 1st, 中旬 = the 11th, 月中 = the 15th, 下旬 = the 21st.
  With no month named, this month's, unless that part of the month is over (月初 on the 20th): then next
  month's. 月底 is never over before its own day ends, so on the last day it is today.
- A day of the month alone (3号) that has passed is next month's; a month and day with no year (11月30日,
  12/1, "Nov 30") that has passed is next year's (written as the date). Today is never "passed": a past
  hour today is returned as past.
- A part of the day with no hour after a day (明天上午, 周六晚上, "saturday morning", "tonight") gets the
  part's hour (bot.day_parts) written in; a part of the day alone (下午) stays vague, so no instant.
  "tonight at 8", "evening 7" read the hour as pm.
- A clock time alone (下午三点半, 20:00, "8pm") is today's, even when it has passed: `clock_only` tells the
  caller so, and the caller offers the same time tomorrow. (dateparser would silently move "8pm" to tomorrow.)
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta

from bot.day_parts import DayPart, day_part_hour

# Characters of zh-Hant (and variants) that appear in time phrases, to their zh-Hans form: one to one, so
# offsets in the folded text are offsets in the original.
_TO_SIMPLIFIED = str.maketrans("週禮點鐘鍾號後個時兩這裡頭間幾", "周礼点钟钟号后个时两这里头间几")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_NUM = "[0-9零〇一二两三四五六七八九十]"
_DAY_PART_WORDS: dict[str, DayPart] = {
    "早上": DayPart.EARLY_MORNING,
    "早晨": DayPart.EARLY_MORNING,
    "清早": DayPart.EARLY_MORNING,
    "上午": DayPart.MORNING,
    "中午": DayPart.NOON,
    "下午": DayPart.AFTERNOON,
    "傍晚": DayPart.EVENING,
    "晚上": DayPart.NIGHT,
    "夜里": DayPart.NIGHT,
    "夜晚": DayPart.NIGHT,
}
_ZH_DAY_PART = "|".join(_DAY_PART_WORDS)
_ZH_SHORTHANDS = {"今晚": "今天晚上", "明晚": "明天晚上", "今早": "今天早上", "明早": "明天早上"}
_ZH_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "七": 6}
_ZH_BARE_WEEKDAY = re.compile(r"^(?:周|星期|礼拜)([一二三四五六日天1-7])")
_ZH_MONTH_PART = re.compile(
    rf"^(?:(?P<year>\d{{4}})年)?(?P<which>下下个?|下个?|本|这个?|上个?)?(?P<month>{_NUM}{{1,3}})?月"
    r"(?P<part>底|初|中旬|上旬|下旬|中)(?!午)"
    r"|^(?P<bare>上旬|中旬|下旬)"
)
_ZH_MONTH_DAY = re.compile(rf"^(?P<month>{_NUM}{{1,3}})(?:月|/)(?P<day>{_NUM}{{1,3}})(?:日|号)?")
_ZH_DAY_OF_MONTH = re.compile(rf"^(?P<day>{_NUM}{{1,3}})(?:日|号)(?!{_NUM})")
_ZH_TRAILING_DAY_PART = re.compile(rf"(?<=.)({_ZH_DAY_PART})$")
_ZH_CLOCK = rf"{_NUM}{{1,3}}(?:点|时)(?:钟|整|半|一刻|三刻|{_NUM}{{1,3}}分?)?|\d{{1,2}}:\d{{2}}"
_ZH_CLOCK_ONLY = re.compile(rf"^(?:凌晨|{_ZH_DAY_PART}|晚)?(?:{_ZH_CLOCK})$")

# Where a time phrase may stand inside longer Chinese text: the day (relative, weekday, date, month part) or a
# duration, then a part of the day, then a clock time; or a clock time alone. Only for finding: jionlp reads it.
_ZH_DAY = (
    r"大后天|后天|明天|今天|明日|今日|今晚|明晚|今早|明早|大前天|前天|昨天|昨日|昨晚"  # past days too: read whole
    r"|(?:这个?|本|下下?个?|上上?个?)?(?:周|星期|礼拜)[一二三四五六日天1-7末]"
    rf"|\d{{4}}[-/.年]\d{{1,2}}[-/.月]\d{{1,2}}[日号]?"
    rf"|(?:\d{{4}}年)?(?:下下?个?|上上?个?|本|这个?)?(?:{_NUM}{{1,2}})?月(?:底|初|中旬|上旬|下旬|中(?!午)|{_NUM}{{1,3}}[日号]?)"
    r"|上旬|中旬|下旬"
    rf"|\d{{1,2}}/\d{{1,2}}(?!\d)|{_NUM}{{1,3}}[日号](?![楼院线室房门栋座号])"
)
_ZH_DURATION = rf"(?:{_NUM}{{1,4}}|半|一刻钟)个?半?(?:小时|钟头|分钟|天|周|星期|礼拜|个月)?半?(?:后|以后|之后)"
_ZH_CANDIDATE = re.compile(
    rf"(?P<head>{_ZH_DURATION}|(?:{_ZH_DAY})(?:\s?(?:{_ZH_DAY})){{0,2}})"
    rf"(?:\s?(?:{_ZH_DAY_PART}|晚))?(?:\s?(?:{_ZH_CLOCK}))?"
    rf"|(?P<clock>(?:凌晨|{_ZH_DAY_PART}|晚)?(?:{_ZH_CLOCK}))"
)

_EN_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        ]
    )
    for name in names
}
_EN_BARE_WEEKDAY = re.compile(rf"^(?:on\s+)?({'|'.join(_EN_WEEKDAYS)})\b\.?")
_EN_DAY_PARTS: dict[str, DayPart] = {
    "early morning": DayPart.EARLY_MORNING,
    "morning": DayPart.MORNING,
    "noon": DayPart.NOON,
    "midday": DayPart.NOON,
    "lunchtime": DayPart.NOON,
    "afternoon": DayPart.AFTERNOON,
    "evening": DayPart.EVENING,
    "night": DayPart.NIGHT,
    "tonight": DayPart.NIGHT,
}
_EN_DAY_PART = re.compile(
    r"\b(?:(?P<this>this|in the)\s+)?(?P<part>early morning|morning|noon|midday|lunchtime|afternoon|evening|night"
    r"|tonight)\b(?:\s+(?:at\s+)?(?P<hour>\d{1,2})(?P<minute>:\d{2})?(?P<ampm>\s*[ap]\.?m\.?)?\b)?"
)
_EN_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sept", "sep"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_EN_MONTH = "|".join(_EN_MONTHS)
_EN_MONTH_DAY = re.compile(
    rf"^(?:(?P<name>{_EN_MONTH})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<name2>{_EN_MONTH})\.?"
    r"|(?P<month>\d{1,2})/(?P<day3>\d{1,2}))(?![\d/])(?!,?\s*\d{4})\b"
)
_EN_CLOCK_ONLY = re.compile(r"^(?:at\s+)?\d{1,2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?$|^noon$")
_EN_MONTH_END = re.compile(r"^(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?(?P<next>next\s+)?month\b")


@dataclass(frozen=True)
class Rewrite:
    """A phrase as the library should read it, and what our rules decided on the way."""

    text: str
    day_part: DayPart | None = None
    """The part of the day whose hour was written in."""
    clock_only: bool = False
    """The phrase named a clock time and no day: today's, even when past."""
    a_week_later: str | None = None
    """A bare weekday that is today's: the same phrase a week on, for when `text` reads as past."""


def fold(text: str) -> str:
    """zh-Hant and full-width forms → zh-Hans and ASCII, one character for one (offsets stay valid)."""
    out = []
    for char in text.translate(_TO_SIMPLIFIED):
        plain = unicodedata.normalize("NFKC", char)
        out.append(plain if len(plain) == 1 else char)
    return "".join(out)


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def rewrite(text: str, today: date, day_parts: Mapping[DayPart, time] | None = None) -> Rewrite:
    """`text` (one whole phrase, spaces collapsed) as the library should read it, given the agent's today."""
    text = fold(text)
    return _rewrite_chinese(text, today, day_parts) if has_cjk(text) else _rewrite_english(text, today, day_parts)


def chinese_candidates(text: str) -> Iterator[tuple[int, int, int]]:
    """(start, end, head_end) of each place in `text` that may hold a Chinese time phrase, left to right.

    `head_end` ends the day or duration the candidate starts with (equal to `start` for a clock time alone):
    when the whole candidate is no time, its head may still be one.
    """
    for match in _ZH_CANDIDATE.finditer(fold(text)):
        head_end = match.end("head") if match.group("head") else match.start()
        yield match.start(), match.end(), head_end


def _rewrite_chinese(text: str, today: date, day_parts: Mapping[DayPart, time] | None) -> Rewrite:
    text = re.sub(r"\s+", "", text)  # "明天 下午3点": jionlp reads it the same, our rules anchor on the start
    if _ZH_CLOCK_ONLY.match(text):
        return Rewrite(text, clock_only=True)
    for short, long in _ZH_SHORTHANDS.items():
        text = text.replace(short, long)
    text = text.replace("周末", "周六")
    a_week_later = None
    if match := _ZH_BARE_WEEKDAY.match(text):
        day = _next_weekday(today, _weekday_number(match.group(1)))
        rest = text[match.end() :]
        if day == today:
            a_week_later = _chinese_date(day + timedelta(days=7)) + rest
        text = _chinese_date(day) + rest
    elif match := _ZH_MONTH_PART.match(text):
        day_of_month = _month_part_day(match, today)
        if day_of_month is not None:
            text = _chinese_date(day_of_month) + text[match.end() :]
    elif match := _ZH_MONTH_DAY.match(text):
        month, day_number = _chinese_number(match.group("month")), _chinese_number(match.group("day"))
        named = _date_or_none(today.year, month, day_number)
        if named is not None:
            if named < today:
                named = _date_or_none(today.year + 1, month, day_number) or named
            text = _chinese_date(named) + text[match.end() :]
    elif match := _ZH_DAY_OF_MONTH.match(text):
        day_number = _chinese_number(match.group("day"))
        named = _date_or_none(today.year, today.month, day_number)
        if named is not None and named < today:
            following = _add_months(today, 1)
            named = _date_or_none(following.year, following.month, day_number)
        if named is not None:
            text = _chinese_date(named) + text[match.end() :]
    day_part = None
    if match := _ZH_TRAILING_DAY_PART.search(text):
        day_part = _DAY_PART_WORDS[match.group(1)]
        hour = day_part_hour(day_part, day_parts)
        text = text[: match.start()] + f"{hour.hour}点{hour.minute}分"
        if a_week_later is not None:
            a_week_later = a_week_later[: -len(match.group(1))] + f"{hour.hour}点{hour.minute}分"
    return Rewrite(text, day_part=day_part, a_week_later=a_week_later)


def _rewrite_english(text: str, today: date, day_parts: Mapping[DayPart, time] | None) -> Rewrite:
    text = text.lower().strip()
    if _EN_CLOCK_ONLY.match(text):
        return Rewrite("today " + ("12:00" if text == "noon" else text), clock_only=True)
    if match := _EN_MONTH_END.match(text):
        month = _add_months(today, 1 if match.group("next") else 0)
        last = date(month.year, month.month, calendar.monthrange(month.year, month.month)[1])
        text = last.isoformat() + text[match.end() :]
    day_part = None
    if match := _EN_DAY_PART.search(text):
        part = _EN_DAY_PARTS[match.group("part")]
        before, after = text[: match.start()].strip(), text[match.end() :].strip()
        if match.group("part") == "tonight" or match.group("this") == "this":
            before = (before + " today").strip()
        if match.group("hour"):
            clock = match.group("hour") + (match.group("minute") or "")
            ampm = match.group("ampm") or ("pm" if part in _PM_PARTS and int(match.group("hour")) < 12 else "")
            text = f"{before} {clock}{ampm} {after}".strip()
        elif before:  # "morning" alone stays vague: no instant
            day_part = part
            hour = day_part_hour(part, day_parts)
            text = f"{before} {hour:%H:%M} {after}".strip()
    if match := _EN_MONTH_DAY.match(text):
        name = match.group("name") or match.group("name2")
        month_number = _EN_MONTHS[name] if name else int(match.group("month"))
        day_number = int(match.group("day") or match.group("day2") or match.group("day3"))
        named = _date_or_none(today.year, month_number, day_number)
        if named is not None:
            if named < today:
                named = _date_or_none(today.year + 1, month_number, day_number) or named
            text = named.isoformat() + text[match.end() :]
    a_week_later = None
    if match := _EN_BARE_WEEKDAY.match(text):
        day = _next_weekday(today, _EN_WEEKDAYS[match.group(1)])
        rest = text[match.end() :]
        if day == today:
            a_week_later = (day + timedelta(days=7)).isoformat() + rest
        text = day.isoformat() + rest
    return Rewrite(text, day_part=day_part, a_week_later=a_week_later)


_PM_PARTS = (DayPart.AFTERNOON, DayPart.EVENING, DayPart.NIGHT)


def _weekday_number(char: str) -> int:
    return int(char) - 1 if char.isascii() else _ZH_WEEKDAYS[char]


def _next_weekday(today: date, weekday: int) -> date:
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _month_part_day(match: re.Match[str], today: date) -> date | None:
    """The date a month part names (月底, 下个月初, 12月中旬, 下旬), or None if the month is no month."""
    part = match.group("part") or match.group("bare")
    which, month_text, year_text = match.group("which") or "", match.group("month"), match.group("year")
    if month_text is not None and which:
        return None  # "下个12月底"
    if month_text is not None:
        month_number = _chinese_number(month_text)
        if not 1 <= month_number <= 12:
            return None
        year = int(year_text) if year_text else today.year
        month = date(year, month_number, 1)
    else:
        steps = {"下下": 2, "下": 1, "上": -1}.get(which.rstrip("个"), 0)
        month = _add_months(today, steps)
    named, last = _part_days(part, month)
    rolls = month_text is None and not which and not year_text
    if last < today and (rolls or (month_text is not None and not year_text)):
        # This month's (or this year's) part is over: the next one to come.
        month = _add_months(month, 12 if month_text is not None else 1)
        named, last = _part_days(part, month)
    return named


def _part_days(part: str, month: date) -> tuple[date, date]:
    """The day a month part names and the last day it covers."""
    length = calendar.monthrange(month.year, month.month)[1]
    first, last = {
        "初": (1, 5),
        "上旬": (1, 10),
        "中旬": (11, 20),
        "中": (15, 20),
        "下旬": (21, length),
        "底": (length, length),
    }[part]
    return month.replace(day=first), month.replace(day=last)


def _add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _date_or_none(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _chinese_number(text: str) -> int:
    """1–99 in ASCII or Chinese numerals ("12", "十二", "三十一"); -1 for what is not one."""
    if text.isascii():
        return int(text) if text.isdigit() else -1
    if "十" not in text:
        return int("".join(str(_DIGITS[c]) for c in text)) if all(c in _DIGITS for c in text) else -1
    tens, _, ones = text.partition("十")
    if (tens and tens not in _DIGITS) or (ones and ones not in _DIGITS) or "十" in ones:
        return -1
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
