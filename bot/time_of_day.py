"""A time of day as agents type it, for every question that asks for one (reflection, tip, digest, follow-up hour).

"21:30", "9:30pm", "９点半", "晚上九点半", "晚上9點半", "下午三点一刻" (15:15), "三点三刻" (3:45), "21点", "凌晨1点",
"中午12点", "noon", "half past nine pm", "quarter to ten pm". A bare number ("9") is refused: 09:00 or 21:00?

First the text is normalised: full-width forms folded, Chinese numerals and English number words turned into
digits by the libraries `bot.numerals` uses (cn2an, text2num), Traditional characters folded (點 → 点), English
phrases ("half past 9", "quarter to 10", "in the evening") rewritten as a clock. What is left is one shape,
[part of day] hour [点 minutes | :minutes] [am/pm], read by one pattern. A part of day ("晚上", "pm") turns a
12-hour clock into 24 hours by the table `_PARTS`, and refuses an hour it cannot mean ("早上9点" is 09:00,
"早上21点" nothing).
"""

from __future__ import annotations

import re
from datetime import time

from bot.numerals import CHINESE_NUMERAL_RUN, read_chinese_numeral

_FOLD = str.maketrans("０１２３４５６７８９：．點時鐘鍾", "0123456789:.点时钟钟")
_AM, _PM = "am", "pm"

# A part of day → (lowest hour, highest hour, hours added) for each range of hours it accepts.
_MORNING = ((0, 11, 0),)
_EVENING = ((6, 11, 12), (12, 12, -12), (0, 3, 0), (18, 23, 0))
_PARTS: dict[str, tuple[tuple[int, int, int], ...]] = {
    _AM: ((1, 11, 0), (12, 12, -12)),
    _PM: ((1, 11, 12), (12, 12, 0)),
    "凌晨": ((0, 6, 0), (12, 12, -12)),
    "早上": _MORNING,
    "早晨": _MORNING,
    "清晨": _MORNING,
    "早": _MORNING,
    "上午": ((0, 12, 0),),
    "中午": ((11, 12, 0), (1, 2, 12), (13, 14, 0)),
    "下午": ((1, 11, 12), (12, 23, 0)),
    "傍晚": ((4, 7, 12), (16, 19, 0)),
    "晚上": _EVENING,
    "晚": _EVENING,
    "夜里": _EVENING,
    "夜裡": _EVENING,
    "夜晚": _EVENING,
    "半夜": ((0, 4, 0), (12, 12, -12), (11, 11, 12), (23, 23, 0)),
}
_PART = "|".join(sorted((re.escape(part) for part in _PARTS), key=len, reverse=True))
_CLOCK = re.compile(
    rf"(?P<part>{_PART})?"
    r"(?P<hour>[0-9]{1,2})"
    r"(?:点钟?(?:(?P<half>半)|(?P<quarters>[13])刻|(?P<minutes>[0-9]{1,2})分?|整)?"
    r"|[:.](?P<clock_minutes>[0-9]{2})"
    r"| (?P<spoken_minutes>[0-9]{2}) ?(?=am|pm))?"
    rf" ?(?P<suffix>{_AM}|{_PM})?"
)
# English phrases rewritten into the clock's shape before it is read.
_ENGLISH = (
    (re.compile(r"\b(?:12 )?(?:noon|midday)\b"), "12:00"),
    (re.compile(r"\b(?:12 )?midnight\b"), "0:00"),
    (re.compile(r"\bhalf past ([0-9]{1,2})\b"), r"\1:30"),
    (re.compile(r"\b(?:a )?quarter past ([0-9]{1,2})\b"), r"\1:15"),
    (re.compile(r"\b(?:a )?quarter to ([0-9]{1,2})\b"), lambda m: f"{int(m.group(1)) - 1}:45"),
    (re.compile(r"\bo'?clock\b"), ""),
    (re.compile(r"\bin the (?:morning)\b"), _AM),
    (re.compile(r"\b(?:in the (?:afternoon|evening)|at night|tonight)\b"), _PM),
    (re.compile(r"\b([ap])\.? ?m\.?(?=\s|$)"), r"\1m"),
)
_ENGLISH_NUMBER_WORDS = re.compile(
    r"\b(?:(?:twenty|thirty|forty|fifty)(?:[\s-](?:one|two|three|four|five|six|seven|eight|nine))?"
    r"|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen)\b"
)
_MAX_CHARS = 40


def read_time_of_day(text: str) -> time | None:
    """What the agent typed as a time of day → the time; None for a bare number, garbage or an impossible time."""
    cleaned = _normalised(text)
    if cleaned is None:
        return None
    match = _CLOCK.fullmatch(cleaned)
    if match is None:
        return None
    minute = _minute(match)
    if minute is None:  # a bare number with no 点, colon, minutes or part of day
        return None
    hour = int(match.group("hour"))
    for part in (match.group("part"), match.group("suffix")):
        if part is not None:
            shifted = _in_part(part, hour)
            if shifted is None:
                return None
            hour = shifted
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _normalised(text: str) -> str | None:
    """One spelling for the pattern: digits for numerals, Simplified clock words, English phrases as clocks."""
    if len(text) > _MAX_CHARS:
        return None
    cleaned = " ".join(text.lower().translate(_FOLD).split())
    cleaned = CHINESE_NUMERAL_RUN.sub(_chinese_number, cleaned)
    cleaned = _ENGLISH_NUMBER_WORDS.sub(_english_number, cleaned)
    for pattern, replacement in _ENGLISH:
        cleaned = pattern.sub(replacement, cleaned)
    # Spaces matter only between ASCII words and numbers ("9 30 pm" is nine thirty pm): others go.
    cleaned = re.sub(r" ?([:.]) ?", r"\1", " ".join(cleaned.split()))
    return re.sub(r" (?=[^\x00-~])|(?<=[^\x00-~]) ", "", cleaned)


def _chinese_number(match: re.Match[str]) -> str:
    return str(read_chinese_numeral(match.group(0)))  # a range ("三四点") becomes "None", which no clock matches


def _english_number(match: re.Match[str]) -> str:
    from text_to_num import text2num

    return str(text2num(match.group(0), "en"))  # "twenty-one" too


def _minute(match: re.Match[str]) -> int | None:
    if match.group("half"):
        return 30
    if match.group("quarters"):
        return 15 * int(match.group("quarters"))
    for group in ("minutes", "clock_minutes", "spoken_minutes"):
        if match.group(group):
            return int(match.group(group))
    said_o_clock = "点" in match.group(0)
    return 0 if said_o_clock or match.group("part") or match.group("suffix") else None


def _in_part(part: str, hour: int) -> int | None:
    for lowest, highest, added in _PARTS[part]:
        if lowest <= hour <= highest:
            return hour + added
    return None
