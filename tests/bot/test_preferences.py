"""Parsing what agents type for their settings: tables of accepted and refused input, and properties."""

from __future__ import annotations

import re
from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.preferences import (
    format_time,
    format_work_days,
    parse_digest,
    parse_language,
    parse_setting,
    parse_setting_name,
    parse_time_of_day,
    parse_weekday,
    parse_work_days,
    toggle_work_day,
    weekday_name,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:30", time(21, 30)),
        ("9:05", time(9, 5)),
        ("09.30", time(9, 30)),
        ("２１：３０", time(21, 30)),
        (" 7:00 ", time(7, 0)),
        ("9pm", time(21, 0)),
        ("9:30 PM", time(21, 30)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("晚上9点", time(21, 0)),
        ("下午3点半", time(15, 30)),
        ("早上8点", time(8, 0)),
        ("21点15分", time(21, 15)),
        ("0:00", time(0, 0)),
        ("23:59", time(23, 59)),
    ],
)
def test_times_accepted(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize(
    "text", ["24:00", "21:60", "21", "13pm", "0am", "", "soon", "21:3", "明天", "-1:00", "9:30:00"]
)
def test_times_refused(text: str) -> None:
    assert parse_time_of_day(text) is None


@given(st.times())
def test_formatted_times_parse_back(moment: time) -> None:
    minute = moment.replace(second=0, microsecond=0)
    assert parse_time_of_day(format_time(minute)) == minute


# Text close to a time (digits, separators, am/pm, Chinese day periods): random text alone almost never is.
near_times = st.text(alphabet="0123456789０１２３:.：  ampAMP点點时半分早上中下午晚", max_size=12)


# A number written as a word, Chinese or English, or a word that is one hour ("noon" is 12:00).
NUMBER_WORD = re.compile(
    r"[零〇一二两兩三四五六七八九十]|noon|midday|midnight"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty)\b",
    re.IGNORECASE,
)


@given(st.one_of(st.text(max_size=30), near_times, st.sampled_from(["NOON", "midnight", "nine pm", "九点"])))
def test_time_parser_never_raises_and_reads_a_time_only_from_a_number(text: str) -> None:
    result = parse_time_of_day(text)
    if result is not None:
        assert (result.second, result.microsecond, result.tzinfo) == (0, 0, None)  # a wall-clock minute
        assert any(character.isdigit() for character in text) or NUMBER_WORD.search(text)
        assert not text.strip().isdigit()  # a bare number could be a count or a price, never a time


FULLWIDTH = str.maketrans("0123456789:", "０１２３４５６７８９：")


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_minute_of_the_day_is_read_however_an_agent_writes_it(hour: int, minute: int) -> None:
    twelve, half = hour % 12 or 12, "am" if hour < 12 else "pm"
    spellings = [
        f"{hour}:{minute:02d}",
        f"{hour:02d}.{minute:02d}",
        f"{hour}:{minute:02d}".translate(FULLWIDTH),
        f"{twelve}:{minute:02d}{half}",
        f" {twelve}:{minute:02d} {half.upper()} ",
        f"{hour}点{minute}分",
    ]
    if minute == 30:
        spellings.append(f"{hour}点半")
    if hour > 12:
        spellings.append(f"下午{hour - 12}点{minute}分")
    assert {spelling: parse_time_of_day(spelling) for spelling in spellings} == dict.fromkeys(
        spellings, time(hour, minute)
    )


@given(
    st.one_of(
        st.tuples(st.integers(24, 99), st.integers(0, 99)),
        st.tuples(st.integers(0, 23), st.integers(60, 99)),
    )
)
def test_a_clock_that_does_not_exist_is_refused(clock: tuple[int, int]) -> None:
    hour, minute = clock
    assert parse_time_of_day(f"{hour}:{minute:02d}") is None
    assert parse_time_of_day(f"{hour}点{minute}分") is None


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("sun", 7),
        ("Sunday", 7),
        ("周日", 7),
        ("星期天", 7),
        ("週日", 7),
        ("礼拜一", 1),
        ("Mon", 1),
        ("5", 5),
        ("sat.", 6),
    ],
)
def test_weekdays(text: str, iso: int) -> None:
    assert parse_weekday(text) == iso


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("1-6", "123456"),
        ("1,2,3,4,5", "12345"),
        ("1-5,7", "123457"),
        ("1-5 7", "123457"),
        ("mon-fri", "12345"),
        ("周一至周六", "123456"),
        ("周二、周四", "24"),
        ("７", "7"),
        ("1-7", "1234567"),
    ],
)
def test_work_days_accepted(text: str, days: str) -> None:
    assert parse_work_days(text) == days


@pytest.mark.parametrize("text", ["", "0", "8", "6-1", "1-", "weekdays", "1--3", "周八"])
def test_work_days_refused(text: str) -> None:
    assert parse_work_days(text) is None


@given(st.sets(st.integers(1, 7), min_size=1))
def test_any_set_of_days_round_trips_through_digits(days: set[int]) -> None:
    digits = "".join(str(d) for d in sorted(days))
    assert parse_work_days(",".join(digits)) == digits


@given(st.sets(st.integers(1, 7), min_size=1), st.integers(1, 7))
def test_toggling_twice_is_identity(days: set[int], day: int) -> None:
    digits = "".join(str(d) for d in sorted(days))
    assert toggle_work_day(toggle_work_day(digits, day), day) == digits


@pytest.mark.parametrize(
    ("days", "language", "shown"),
    [
        ("123456", "zh-Hans", "周一至周六"),
        ("124567", "zh-Hans", "周一、周二、周四至周日"),
        ("12345", "en", "Mon–Fri"),
        ("17", "en", "Mon, Sun"),
        ("123456", "zh-Hant", "週一至週六"),
    ],
)
def test_work_days_are_shown_as_ranges(days: str, language: str, shown: str) -> None:
    assert format_work_days(days, language) == shown


def test_digest_needs_day_and_time() -> None:
    assert parse_digest("sun 20:00") is not None
    assert parse_digest("周五 8pm") is not None
    assert parse_digest("sun") is None
    assert parse_digest("20:00") is None
    assert parse_digest("sun 20:00 extra") is None


@pytest.mark.parametrize(
    ("text", "language"),
    [("en", "en"), ("English", "en"), ("简体中文", "zh-Hans"), ("zh-Hant", "zh-Hant"), ("繁體", "zh-Hant")],
)
def test_languages(text: str, language: str) -> None:
    assert parse_language(text) == language


def test_setting_names_in_every_language() -> None:
    assert parse_setting_name("tz") == parse_setting_name("时区") == parse_setting_name("時區") == "timezone"
    assert parse_setting_name("colour") is None


def test_digest_day_accepts_a_day_or_day_and_time() -> None:
    assert parse_setting("digest_day", "sat") == {"digest_weekday": 6}
    assert parse_setting("digest_day", "sat 9:00") == {"digest_weekday": 6, "digest_time": time(9, 0)}
    assert parse_setting("digest", "sat") is None


def test_weekday_names_come_from_cldr() -> None:
    assert [weekday_name(d, "zh-Hans") for d in (1, 7)] == ["周一", "周日"]
    assert [weekday_name(7, lang) for lang in ("en", "zh-Hant")] == ["Sun", "週日"]
