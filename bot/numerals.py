"""Whole numbers as agents type them, in any of our languages: "3", "３", "三", "两", "兩", "十二", "three".

The numerals themselves are read by libraries: Chinese by cn2an, English number words by text2num (why these
two, and what else was measured: docs/readers.md). What is ours is a small normalisation layer in front:
full-width digits, a count's unit ("3个", "3 clients"), a hedge ("大概三个", "about 3"), a trailing "+" (the
"6+" button), and two refusals the libraries would not make:
- a run of bare Chinese digits ("三四", "九九") is a range or a sequence, not a number (cn2an reads it as 34):
  refused, so "三四个" asks again rather than storing 34 or guessing 3;
- only ASCII digits count as digits: Python's int() also reads Arabic-Indic or superscript digits, which an
  agent did not mean as a count.

cn2an builds its tables when imported (~0.13 s), so it is imported at the first Chinese numeral, not at start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

FULLWIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
CHINESE_NUMERAL = "零〇一二两兩三四五六七八九十百千"
# A run of Chinese numeral characters anywhere in a text, for readers that replace them by digits.
CHINESE_NUMERAL_RUN = re.compile(f"[{CHINESE_NUMERAL}]+")
_UNITS = "十百千"
_MAX_DIGITS = 6
_ARABIC = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")
_ENGLISH_WORDS = re.compile(r"[a-z]+(?:[\s-]+[a-z]+)*")

# "How many" answers: a hedge before the number, a unit after it (one of each at most), a "+" at the end.
_HEDGE = r"(?:大概|大约|大約|约|約|差不多|about|around|roughly|~|～)?"
_UNIT = r"(?:个|個|位|名)?(?:客户|客戶|客人|人)?|clients?|customers?|people|leads?"
_COUNT = re.compile(rf"{_HEDGE}\s*(?P<number>.+?)\s*(?:{_UNIT})?\s*\+?")
# "None today" is a count too.
_ZERO_WORDS = frozenset({"没有", "沒有", "无", "無", "none", "no", "nobody", "no one", "nil"})


def read_number(text: str) -> int | None:
    """One whole number, ≥ 0: '3', '３', '三', '两', '十二', '二十', '兩', 'three', 'twenty-one'; else None.

    Not a range ('三四'), a fraction, a sign, or anything around the number (see `read_count` for that).
    """
    cleaned = text.strip().lower().translate(FULLWIDTH_DIGITS)
    if _ARABIC.fullmatch(cleaned):
        return int(cleaned)
    if cleaned and all(character in CHINESE_NUMERAL for character in cleaned):
        return read_chinese_numeral(cleaned)
    if _ENGLISH_WORDS.fullmatch(cleaned):  # only ASCII words reach text2num (a Rust library)
        return _english_words(cleaned)
    return None


def read_chinese_numeral(run: str) -> int | None:
    """A run of Chinese numeral characters ('二十一', '两', '零五') → its value; a bare digit sequence → None.

    '零五' (a clock's minutes) is five; '三四' (three or four) and '九九' are not numbers here.
    """
    digits = run.removeprefix("零").removeprefix("〇") or run
    if len(digits) > 1 and not any(unit in digits for unit in _UNITS):
        return None
    try:
        value = _cn2an()(digits, "normal")
    except (ValueError, KeyError):  # cn2an raises KeyError on some malformed runs ("十十一"; hypothesis found it)
        return None
    return int(value)


def read_count(text: str) -> int | None:
    """How many: a number with a unit, a hedge or a '+': '3个', '三个', '兩個', '3 clients', 'about 3', '6+',
    '没有' (0). A range ('三四个', '3-4', 'three or four') is refused: the agent picks one."""
    cleaned = " ".join(text.strip().lower().split())
    if cleaned in _ZERO_WORDS:
        return 0
    match = _COUNT.fullmatch(cleaned)
    return read_number(match.group("number")) if match else None


def _english_words(words: str) -> int | None:
    from text_to_num import text2num

    if any(len(word) < 3 for word in re.split(r"[\s-]+", words)):  # text2num reads a lone "o" as zero
        return None
    try:
        return int(text2num(words, "en"))  # never negative: "minus" is no word here
    except ValueError:
        return None


@cache
def _cn2an() -> Callable[[str, str], float]:
    import cn2an

    convert: Callable[[str, str], float] = cn2an.cn2an
    return convert
