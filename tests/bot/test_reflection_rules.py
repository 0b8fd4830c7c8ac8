"""Reading the client count as agents type it in either script, and refusing a question the check-in does not have.

A count may end in 个 (Simplified), 個 (Traditional), 位 or +; a single character is a count only if it is a digit
(Arabic or Chinese) — any other lone character is refused, never an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.models import Reflection
from bot.reflections import MAX_TEXT, QUESTIONS, parse_clients, parse_text, set_answer

DIGITS = "0123456789零〇一二两兩三四五六七八九十"


@pytest.mark.parametrize(
    ("text", "count"),
    [("3個", 3), ("五個", 5), ("兩位", 2), ("12個", 12), ("6+", 6), ("九个", 9), ("十個", 10)],
)
def test_counts_in_traditional_and_simplified_are_read(text: str, count: int) -> None:
    assert parse_clients(text) == count


@pytest.mark.parametrize("text", ["個", "个", "位", "x", "多", "個3", "3個個"])
def test_a_lone_word_or_a_doubled_suffix_is_not_a_count(text: str) -> None:
    assert parse_clients(text) is None


@given(st.characters().filter(lambda c: c not in DIGITS and not c.isspace() and not c.isdigit()))
def test_any_single_character_that_is_no_digit_is_refused(character: str) -> None:
    assert parse_clients(character) is None


def test_an_unknown_question_is_refused_by_name_and_nothing_is_stored() -> None:
    now = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
    reflection = Reflection(status="open", step=QUESTIONS[0], voice={}, created_at=now, updated_at=now)
    with pytest.raises(ValueError, match="unknown question 'feelings'"):
        set_answer(reflection, "feelings", "good", datetime(2026, 11, 25, 14, 0, tzinfo=UTC))
    assert reflection.updated_at == now


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("。", None),
        ("-", None),
        ("…", None),
        ("——", None),
        (" ~ ", None),
        ("", None),
        ("👍", "👍"),
        ("3", "3"),
        ("无", "无"),
        (" ok ", "ok"),
        ("字" * MAX_TEXT, "字" * MAX_TEXT),
        ("字" * (MAX_TEXT + 1), None),
    ],
)
def test_a_written_answer_says_something_and_punctuation_alone_does_not(text: str, kept: str | None) -> None:
    assert parse_text(text) == kept
