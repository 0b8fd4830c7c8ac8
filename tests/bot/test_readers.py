"""The readers of numbers, times of day and moods (bot/numerals.py, bot/time_of_day.py, bot/moods.py): a table
of what agents type in zh-Hans, zh-Hant and English with the value each means (or None: asked again), and the
properties: any text never raises, Chinese numerals 0–99 read back, a bare number is never a time, a mood is
1–5, and every Chinese mood word is listed in its Traditional form too."""

from __future__ import annotations

import re
from datetime import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.i18n import to_traditional
from bot.moods import mood_words, read_mood
from bot.numerals import read_count, read_number
from bot.time_of_day import read_time_of_day

COUNTS = [
    ("3", 3),
    ("３", 3),
    ("3个", 3),
    ("3 clients", 3),
    ("three", 3),
    ("Three clients", 3),
    ("三", 3),
    ("两", 2),
    ("兩", 2),
    ("两个", 2),
    ("兩個", 2),
    ("十二", 12),
    ("二十", 20),
    ("二十一个", 21),
    ("6+", 6),
    ("0", 0),
    ("零", 0),
    ("没有", 0),
    ("none", 0),
    ("大概五个", 5),
    ("about 4", 4),
    ("三位客户", 3),
    ("1 client", 1),
    ("twenty-one", 21),
    ("〇", 0),
    ("一百", 100),
    ("三四个", None),
    ("3-4", None),
    ("three or four", None),
    ("九九", None),
    ("很多", None),
    ("-1", None),
    ("3.5", None),
    ("²", None),
    ("٣", None),
    ("o", None),
    ("o one", None),
    ("個", None),
    ("3個個", None),
    ("", None),
    ("a", None),
]
TIMES = [
    ("晚上九点半", time(21, 30)),
    ("晚上9点半", time(21, 30)),
    ("9pm", time(21)),
    ("9:30pm", time(21, 30)),
    ("21:30", time(21, 30)),
    ("２１：３０", time(21, 30)),
    ("下午三点一刻", time(15, 15)),
    ("下午三点三刻", time(15, 45)),
    ("九点半", time(9, 30)),
    ("21点", time(21)),
    ("早上七点", time(7)),
    ("中午12点", time(12)),
    ("中午一点", time(13)),
    ("凌晨1点", time(1)),
    ("晚上九點半", time(21, 30)),
    ("half past nine pm", time(21, 30)),
    ("quarter to ten pm", time(21, 45)),
    ("noon", time(12)),
    ("midnight", time(0)),
    ("nine thirty pm", time(21, 30)),
    ("9 in the evening", time(21)),
    ("九点零五", time(9, 5)),
    ("九点〇五", time(9, 5)),
    ("二十一点十五分", time(21, 15)),
    ("十点整", time(10)),
    ("下午 3 点", time(15)),
    ("晚上12点", time(0)),
    ("12am", time(0)),
    ("12pm", time(12)),
    ("9:30 p.m.", time(21, 30)),
    ("傍晚六点", time(18)),
    ("21 : 30", time(21, 30)),
    ("21:30" + " " * 35, time(21, 30)),
    ("21:30" + " " * 36, None),
    ("兩點半", time(2, 30)),
    ("9", None),
    ("九", None),
    ("21", None),
    ("早上21点", None),
    ("25:00", None),
    ("9:60", None),
    ("三四点", None),
    ("21:30pm", None),
    ("王先生", None),
    ("soon", None),
    ("明天", None),
    ("", None),
]
MOODS = [
    ("四", 4),
    ("4", 4),
    ("4分", 4),
    ("4/5", 4),
    ("four", 4),
    ("还行吧", 3),
    ("還行吧", 3),
    ("一般", 3),
    ("很好", 4),
    ("不错", 4),
    ("超棒", 5),
    ("太好了", 5),
    ("不好", 2),
    ("很差", 1),
    ("糟糕", 1),
    ("😊", 4),
    ("😀", 5),
    ("🤩", 5),
    ("🥳", 5),
    ("😐", 3),
    ("😢", 2),
    ("😭", 1),
    ("😡", 1),
    ("great", 5),
    ("Great!", 5),
    ("good", 4),
    ("ok", 3),
    ("okay", 3),
    ("so-so", 3),
    ("bad", 2),
    ("terrible", 1),
    ("awful", 1),
    ("🙂 4", 4),
    ("😊😊", 4),
    ("☹️", 2),
    ("👍🏽", 4),
    ("😞", 1),
    ("😄 5", 5),
    ("not bad", 4),
    ("pretty good", 4),
    ("so so", 3),
    ("4" + " " * 59, 4),
    ("4" + " " * 60, None),
    ("😊 😭", None),
    ("🙂 2", None),
    ("6", None),
    ("0", None),
    ("好的", None),
    ("hello", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "count"), COUNTS)
def test_counts(text: str, count: int | None) -> None:
    assert read_count(text) == count


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_times_of_day(text: str, expected: time | None) -> None:
    assert read_time_of_day(text) == expected


@pytest.mark.parametrize(("text", "score"), MOODS)
def test_moods(text: str, score: int | None) -> None:
    assert read_mood(text) == score


DIGIT_NAMES = "零一二三四五六七八九"


def spoken(number: int) -> str:
    """How 0–99 is said in Chinese, from the rule (十 for the tens, no 一 before a lone 十)."""
    tens, units = divmod(number, 10)
    if tens == 0:
        return DIGIT_NAMES[units]
    head = "" if tens == 1 else DIGIT_NAMES[tens]
    return head + "十" + (DIGIT_NAMES[units] if units else "")


@settings(deadline=None)  # the first call imports cn2an (~0.1 s, more on a busy machine)
@given(st.integers(0, 99))
def test_chinese_numerals_read_back(number: int) -> None:
    assert read_number(spoken(number)) == number
    assert read_number(to_traditional(spoken(number))) == number
    assert read_count(spoken(number) + "个") == number


ALPHABET = (
    "0123456789０１２:：.点點半刻分整钟零一二两兩三四五六七八九十百上下午晚早中凌晨 ampAMPnoonhalfpastquarterto个個+-"
)


@settings(deadline=None)  # the first call imports cn2an (~0.1 s, more on a busy machine)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=ALPHABET, max_size=20)))
@example("十十一")  # cn2an raised KeyError on it
@example("十十一个")
def test_any_text_never_raises(text: str) -> None:
    count, moment, mood = read_count(text), read_time_of_day(text), read_mood(text)
    assert count is None or count >= 0
    assert mood is None or 1 <= mood <= 5
    assert moment is None or (moment.second, moment.microsecond, moment.tzinfo) == (0, 0, None)


@settings(deadline=None)  # the first call imports cn2an (~0.1 s, more on a busy machine)
@given(st.integers(0, 99))
def test_a_bare_number_is_never_a_time(number: int) -> None:
    for said in (str(number), spoken(number), f" {number} "):
        assert read_time_of_day(said) is None


@settings(deadline=None)  # the first call imports cn2an (~0.1 s, more on a busy machine)
@given(st.integers(0, 23), st.integers(0, 59))
def test_every_minute_said_in_chinese_is_read(hour: int, minute: int) -> None:
    said = spoken(hour) + "点" + (spoken(minute) + "分" if minute else "")
    assert read_time_of_day(said) == time(hour, minute)


def test_every_chinese_mood_word_is_there_in_traditional_too() -> None:
    words = mood_words()
    chinese = [word for word in words if re.search(r"[\u4e00-\u9fff]", word)]
    missing = [word for word in chinese if to_traditional(word) not in words]
    assert missing == []
    assert {words[to_traditional(word)] for word in chinese} <= {1, 2, 3, 4, 5}
