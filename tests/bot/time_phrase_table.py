"""The time phrase table: what agents type, and what each must mean at five "now"s, written by hand from the
rules in bot/time_normalise.py's docstring (not computed by the code under test).

Each expectation is one string for all five instants, or a tuple of five (SUN, MON, EOM, NYE, DST):
- "+N HH:MM": N days after now's local date, at that wall time; "YYYY-MM-DD HH:MM": that local date and time.
- " past": the answer is returned but already past (the caller refuses it); " clock": the phrase named only a
  clock time (`clock_only`); "@part": that part of the day's hour was applied (`day_part`).
- "dur +2h", "dur +30m": exactly that long after now, in real time (across a DST change too).
- "none": not a time.
tests/bot/test_time_phrase_table.py checks them; docs/time-phrases.md shows them (`make_doc` below).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"
NOWS: dict[str, tuple[datetime, str]] = {
    # A Sunday night.
    "SUN": (datetime(2026, 12, 6, 23, 30, tzinfo=ZoneInfo(SHANGHAI)), SHANGHAI),
    # A Monday morning.
    "MON": (datetime(2026, 12, 7, 8, 0, tzinfo=ZoneInfo(SHANGHAI)), SHANGHAI),
    # The last day of a month (a Monday), mid-afternoon.
    "EOM": (datetime(2026, 11, 30, 15, 0, tzinfo=ZoneInfo(SHANGHAI)), SHANGHAI),
    # New Year's Eve (a Thursday), late.
    "NYE": (datetime(2026, 12, 31, 22, 0, tzinfo=ZoneInfo(SHANGHAI)), SHANGHAI),
    # An agent in Berlin half an hour before clocks spring forward (02:00 → 03:00 on Sunday 2027-03-28).
    "DST": (datetime(2027, 3, 28, 1, 30, tzinfo=ZoneInfo(BERLIN)), BERLIN),
}

Expected = str | tuple[str, str, str, str, str]


def shifted(row: tuple[str, str, str, str, str], old: str, new: str) -> tuple[str, str, str, str, str]:
    """The same row with one time (or flag) written differently: "周六上午" is "周六" with "@morning"."""
    a, b, c, d, e = (one.replace(old, new) for one in row)
    return a, b, c, d, e


# Weekdays: bare = the next one to come (today if its time is ahead); 下周 = next Monday–Sunday week's.
SAT = ("+6 10:00", "+5 10:00", "+5 10:00", "+2 10:00", "+6 10:00")
SUNDAY = ("+7 10:00", "+6 10:00", "+6 10:00", "+3 10:00", "+0 10:00")
MONDAY = ("+1 10:00", "+0 10:00", "+7 10:00", "+4 10:00", "+1 10:00")
NEXT_SAT = ("+6 10:00", "+12 10:00", "+12 10:00", "+9 10:00", "+6 10:00")
NEXT_MON = ("+1 10:00", "+7 10:00", "+7 10:00", "+4 10:00", "+1 10:00")
THIS_SAT = ("-1 10:00 past", "+5 10:00", "+5 10:00", "+2 10:00", "-1 10:00 past")
TONIGHT = ("+0 20:00 past @night", "+0 20:00 @night", "+0 20:00 @night", "+0 20:00 past @night", "+0 20:00 @night")
TODAY = ("+0 10:00 past", "+0 10:00", "+0 10:00 past", "+0 10:00 past", "+0 10:00")
AT_15 = ("+0 15:00 past clock", "+0 15:00 clock", "+0 15:00 past clock", "+0 15:00 past clock", "+0 15:00 clock")
AT_20 = ("+0 20:00 past clock", "+0 20:00 clock", "+0 20:00 clock", "+0 20:00 past clock", "+0 20:00 clock")
MONTH_END = (
    "2026-12-31 10:00",
    "2026-12-31 10:00",
    "2026-11-30 10:00 past",
    "2026-12-31 10:00 past",
    "2027-03-31 10:00",
)
NEXT_MONTH_START = ("2027-01-01 10:00", "2027-01-01 10:00", "2026-12-01 10:00", "2027-01-01 10:00", "2027-04-01 10:00")
NOV_30 = ("2027-11-30 10:00", "2027-11-30 10:00", "2026-11-30 10:00 past", "2027-11-30 10:00", "2027-11-30 10:00")

PHRASES: dict[str, dict[str, Expected]] = {
    "relative days": {
        "明天": "+1 10:00",
        "后天": "+2 10:00",
        "大后天": "+3 10:00",
        "今天": TODAY,
        "昨天": "-1 10:00 past",
        "明天下午3点": "+1 15:00",
        "明天下午三点半": "+1 15:30",
        "后天上午10点": "+2 10:00",
        "明天晚上8点": "+1 20:00",
        "明天 15:00": "+1 15:00",
        "明早9点": "+1 09:00",
        "明早8点半": "+1 08:30",
        "今晚8点": ("+0 20:00 past", "+0 20:00", "+0 20:00", "+0 20:00 past", "+0 20:00"),
        "明天。": "+1 10:00",
        "  明天下午3点 ": "+1 15:00",
        "後天下午2點": "+2 14:00",
        "明天晚上8點": "+1 20:00",
        "tomorrow": "+1 10:00",
        "tomorrow 3pm": "+1 15:00",
        "Tomorrow 9:30am": "+1 09:30",
        "today": TODAY,
        "yesterday": "-1 10:00 past",
        "yesterday 5pm": "-1 17:00 past",
        "day after tomorrow": "+2 10:00",
        "tomorrow at 10": "+1 10:00",
    },
    "parts of the day": {
        "明天上午": "+1 10:00 @morning",
        "明天下午": "+1 15:00 @afternoon",
        "明天晚上": "+1 20:00 @night",
        "明天早上": "+1 09:00 @early_morning",
        "明天中午": "+1 12:00 @noon",
        "明天傍晚": "+1 18:00 @evening",
        "后天晚上": "+2 20:00 @night",
        "今天晚上": TONIGHT,
        "今晚": TONIGHT,
        "明晚": "+1 20:00 @night",
        "明早": "+1 09:00 @early_morning",
        "今天下午": (
            "+0 15:00 past @afternoon",
            "+0 15:00 @afternoon",
            "+0 15:00 past @afternoon",
            "+0 15:00 past @afternoon",
            "+0 15:00 @afternoon",
        ),
        "周六上午": shifted(SAT, "10:00", "10:00 @morning"),
        "周日下午": ("+7 15:00", "+6 15:00", "+6 15:00", "+3 15:00", "+0 15:00"),
        "下周六上午": NEXT_SAT,
        "禮拜六晚上": ("+6 20:00", "+5 20:00", "+5 20:00", "+2 20:00", "+6 20:00"),
        "明天晚上 ": "+1 20:00 @night",
        "tonight": TONIGHT,
        "tomorrow morning": "+1 10:00 @morning",
        "tomorrow afternoon": "+1 15:00 @afternoon",
        "tomorrow evening": "+1 18:00 @evening",
        "tomorrow night": "+1 20:00 @night",
        "tomorrow noon": "+1 12:00 @noon",
        "saturday morning": shifted(SAT, "10:00", "10:00 @morning"),
        "this evening": (
            "+0 18:00 past @evening",
            "+0 18:00 @evening",
            "+0 18:00 @evening",
            "+0 18:00 past @evening",
            "+0 18:00 @evening",
        ),
        "tonight at 8": ("+0 20:00 past", "+0 20:00", "+0 20:00", "+0 20:00 past", "+0 20:00"),
        "tomorrow early morning": "+1 09:00 @early_morning",
    },
    "weekdays": {
        "周六": SAT,
        "星期六": SAT,
        "礼拜六": SAT,
        "禮拜六": SAT,
        "週六": SAT,
        "周五上午10点": ("+5 10:00", "+4 10:00", "+4 10:00", "+1 10:00", "+5 10:00"),
        "周一": MONDAY,
        "星期一": MONDAY,
        "周一下午3点": ("+1 15:00", "+0 15:00", "+7 15:00", "+4 15:00", "+1 15:00"),
        "星期日": SUNDAY,
        "礼拜天": SUNDAY,
        "星期天": SUNDAY,
        "星期三": ("+3 10:00", "+2 10:00", "+2 10:00", "+6 10:00", "+3 10:00"),
        "週三下午": ("+3 15:00", "+2 15:00", "+2 15:00", "+6 15:00", "+3 15:00"),
        "周四晚上": ("+4 20:00", "+3 20:00", "+3 20:00", "+7 20:00", "+4 20:00"),
        "周5": ("+5 10:00", "+4 10:00", "+4 10:00", "+1 10:00", "+5 10:00"),
        "周六10点": SAT,
        "禮拜六10點": SAT,
        "下周六": NEXT_SAT,
        "下個禮拜六": NEXT_SAT,
        "下周一": NEXT_MON,
        "下週一": NEXT_MON,
        "下周一早上9点": shifted(NEXT_MON, "10:00", "09:00"),
        "下周五下午3点": ("+5 15:00", "+11 15:00", "+11 15:00", "+8 15:00", "+5 15:00"),
        "下周日": ("+7 10:00", "+13 10:00", "+13 10:00", "+10 10:00", "+7 10:00"),
        "下个周三": ("+3 10:00", "+9 10:00", "+9 10:00", "+6 10:00", "+3 10:00"),
        "这周六": THIS_SAT,
        "本周五": ("-2 10:00 past", "+4 10:00", "+4 10:00", "+1 10:00", "-2 10:00 past"),
        "这周日": ("+0 10:00 past", "+6 10:00", "+6 10:00", "+3 10:00", "+0 10:00"),
        "这周末": THIS_SAT,
        "周末": SAT,
        "週末": SAT,
        "下周末": NEXT_SAT,
        "saturday": SAT,
        "Saturday": SAT,
        "on saturday": SAT,
        "sunday": SUNDAY,
        "monday": MONDAY,
        "friday 3pm": ("+5 15:00", "+4 15:00", "+4 15:00", "+1 15:00", "+5 15:00"),
        "next friday 10am": ("+5 10:00", "+4 10:00", "+4 10:00", "+1 10:00", "+5 10:00"),
        "sat 3pm": ("+6 15:00", "+5 15:00", "+5 15:00", "+2 15:00", "+6 15:00"),
    },
    "month parts": {
        "月底": MONTH_END,
        "本月底": MONTH_END,
        "这个月底": MONTH_END,
        "月底下午3点": (
            "2026-12-31 15:00",
            "2026-12-31 15:00",
            "2026-11-30 15:00 past",
            "2026-12-31 15:00 past",
            "2027-03-31 15:00",
        ),
        "月初": ("2027-01-01 10:00", "2027-01-01 10:00", "2026-12-01 10:00", "2027-01-01 10:00", "2027-04-01 10:00"),
        "上旬": (
            "2026-12-01 10:00 past",
            "2026-12-01 10:00 past",
            "2026-12-01 10:00",
            "2027-01-01 10:00",
            "2027-04-01 10:00",
        ),
        "中旬": ("2026-12-11 10:00", "2026-12-11 10:00", "2026-12-11 10:00", "2027-01-11 10:00", "2027-04-11 10:00"),
        "下旬": (
            "2026-12-21 10:00",
            "2026-12-21 10:00",
            "2026-11-21 10:00 past",
            "2026-12-21 10:00 past",
            "2027-03-21 10:00 past",
        ),
        "月中": ("2026-12-15 10:00", "2026-12-15 10:00", "2026-12-15 10:00", "2027-01-15 10:00", "2027-04-15 10:00"),
        "下个月中": (
            "2027-01-15 10:00",
            "2027-01-15 10:00",
            "2026-12-15 10:00",
            "2027-01-15 10:00",
            "2027-04-15 10:00",
        ),
        "下个月初": NEXT_MONTH_START,
        "下月初": NEXT_MONTH_START,
        "下個月初": NEXT_MONTH_START,
        "下个月底": (
            "2027-01-31 10:00",
            "2027-01-31 10:00",
            "2026-12-31 10:00",
            "2027-01-31 10:00",
            "2027-04-30 10:00",
        ),
        "12月底": (
            "2026-12-31 10:00",
            "2026-12-31 10:00",
            "2026-12-31 10:00",
            "2026-12-31 10:00 past",
            "2027-12-31 10:00",
        ),
        "下个月3号": (
            "2027-01-03 10:00",
            "2027-01-03 10:00",
            "2026-12-03 10:00",
            "2027-01-03 10:00",
            "2027-04-03 10:00",
        ),
        "3号": ("2027-01-03 10:00", "2027-01-03 10:00", "2026-12-03 10:00", "2027-01-03 10:00", "2027-04-03 10:00"),
        "15号下午": (
            "2026-12-15 15:00",
            "2026-12-15 15:00",
            "2026-12-15 15:00",
            "2027-01-15 15:00",
            "2027-04-15 15:00",
        ),
        "30号": (
            "2026-12-30 10:00",
            "2026-12-30 10:00",
            "2026-11-30 10:00 past",
            "2027-01-30 10:00",
            "2027-03-30 10:00",
        ),
        "end of month": MONTH_END,
        "end of next month": (
            "2027-01-31 10:00",
            "2027-01-31 10:00",
            "2026-12-31 10:00",
            "2027-01-31 10:00",
            "2027-04-30 10:00",
        ),
    },
    "dates": {
        "11月30日": NOV_30,
        "11月30号": NOV_30,
        "12月1日": ("2027-12-01 10:00", "2027-12-01 10:00", "2026-12-01 10:00", "2027-12-01 10:00", "2027-12-01 10:00"),
        "1月1日": ("2027-01-01 10:00", "2027-01-01 10:00", "2027-01-01 10:00", "2027-01-01 10:00", "2028-01-01 10:00"),
        "11月30日 14:00": (
            "2027-11-30 14:00",
            "2027-11-30 14:00",
            "2026-11-30 14:00 past",
            "2027-11-30 14:00",
            "2027-11-30 14:00",
        ),
        "12月31日下午3点": (
            "2026-12-31 15:00",
            "2026-12-31 15:00",
            "2026-12-31 15:00",
            "2026-12-31 15:00 past",
            "2027-12-31 15:00",
        ),
        "十二月二十五日": (
            "2026-12-25 10:00",
            "2026-12-25 10:00",
            "2026-12-25 10:00",
            "2027-12-25 10:00",
            "2027-12-25 10:00",
        ),
        "3月28日": ("2027-03-28 10:00", "2027-03-28 10:00", "2027-03-28 10:00", "2027-03-28 10:00", "2027-03-28 10:00"),
        "12/1 9:30": (
            "2027-12-01 09:30",
            "2027-12-01 09:30",
            "2026-12-01 09:30",
            "2027-12-01 09:30",
            "2027-12-01 09:30",
        ),
        "2026-12-05 18:00": (
            "2026-12-05 18:00 past",
            "2026-12-05 18:00 past",
            "2026-12-05 18:00",
            "2026-12-05 18:00 past",
            "2026-12-05 18:00 past",
        ),
        "2026年11月30日": "2026-11-30 10:00 past",
        "2027年1月15日下午2点": (
            "2027-01-15 14:00",
            "2027-01-15 14:00",
            "2027-01-15 14:00",
            "2027-01-15 14:00",
            "2027-01-15 14:00 past",
        ),
        "2027-01-01 09:00": (
            "2027-01-01 09:00",
            "2027-01-01 09:00",
            "2027-01-01 09:00",
            "2027-01-01 09:00",
            "2027-01-01 09:00 past",
        ),
        "Nov 30": NOV_30,
        "Dec 5 6pm": (
            "2027-12-05 18:00",
            "2027-12-05 18:00",
            "2026-12-05 18:00",
            "2027-12-05 18:00",
            "2027-12-05 18:00",
        ),
        "Jan 1": ("2027-01-01 10:00", "2027-01-01 10:00", "2027-01-01 10:00", "2027-01-01 10:00", "2028-01-01 10:00"),
        "December 25": (
            "2026-12-25 10:00",
            "2026-12-25 10:00",
            "2026-12-25 10:00",
            "2027-12-25 10:00",
            "2027-12-25 10:00",
        ),
        "Nov 30 2026": "2026-11-30 10:00 past",
    },
    "clock times": {
        "下午三点半": (
            "+0 15:30 past clock",
            "+0 15:30 clock",
            "+0 15:30 clock",
            "+0 15:30 past clock",
            "+0 15:30 clock",
        ),
        "晚上8点": AT_20,
        "下午3点": AT_15,
        "15:00": AT_15,
        "3pm": AT_15,
        "8pm": AT_20,
        "晚上9点半": (
            "+0 21:30 past clock",
            "+0 21:30 clock",
            "+0 21:30 clock",
            "+0 21:30 past clock",
            "+0 21:30 clock",
        ),
        "晚上九点半": (
            "+0 21:30 past clock",
            "+0 21:30 clock",
            "+0 21:30 clock",
            "+0 21:30 past clock",
            "+0 21:30 clock",
        ),
        "上午10点": (
            "+0 10:00 past clock",
            "+0 10:00 clock",
            "+0 10:00 past clock",
            "+0 10:00 past clock",
            "+0 10:00 clock",
        ),
        "at 8pm": AT_20,
        "晚上8點": AT_20,
    },
    "durations": {
        "两小时后": "dur +2h",
        "2小时后": "dur +2h",
        "兩小時後": "dur +2h",
        "半小时后": "dur +30m",
        "一刻钟后": "dur +15m",
        "10分钟后": "dur +10m",
        "一个半小时后": "dur +90m",
        "3天后": "+3 10:00",
        "5天后": "+5 10:00",
        "in 2 hours": "dur +2h",
        "in 30 minutes": "dur +30m",
        "in 120 minutes": "dur +2h",
        "in 3 days": "+3 10:00",
    },
    "not a time": {
        "王先生": "none",
        "孙": "none",
        "Sun": "none",
        "sun": "none",
        "sat": "none",
        "三室一厅": "none",
        "两室一厅": "none",
        "100万": "none",
        "10万": "none",
        "5楼": "none",
        "302室": "none",
        "王先生302室": "none",
        "1号楼": "none",
        "周一鸣": "none",
        "陈女士": "none",
        "张总": "none",
        "ok": "none",
        "OK": "none",
        "yes": "none",
        "may": "none",
        "march": "none",
        "3": "none",
        "10": "none",
        "302": "none",
        "好的": "none",
        "谢谢": "none",
        "看房": "none",
        "asdfgh": "none",
        "Mr Wang": "none",
        "room 302": "none",
        "下午": "none",
        "12月": "none",
        "下周": "none",
        "明天到后天": "none",
        "每周五下午4点": "none",
        "不是明天": "none",
        "morning": "none",
        "next week": "none",
        "": "none",
    },
}


def cases() -> list[tuple[str, str, str, str]]:
    """(group, phrase, now name, expectation) for every phrase at every now."""
    out = []
    for group, phrases in PHRASES.items():
        for phrase, expected in phrases.items():
            per_now = (expected,) * len(NOWS) if isinstance(expected, str) else expected
            for now_name, one in zip(NOWS, per_now, strict=True):
                out.append((group, phrase, now_name, one))
    return out
