"""The callback-data codec: whatever string comes back from Telegram, decoding never raises, and what it returns
is typed and within its field's bounds (or None)."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import followups, free_text, reflections, settings, start, tips
from handlers.clients import buttons as client_buttons
from handlers.keyboards import (
    MAX_CALLBACK_BYTES,
    Choice,
    Clock,
    Day,
    Either,
    Field,
    Layout,
    Number,
    Token,
    Trailing,
    layout,
    pack,
)

# Every layout a button handler reads its data with.
LAYOUTS: list[Layout[Any]] = [
    *followups.PRESSES.values(),
    client_buttons.PRESS,
    client_buttons.LIST,
    reflections.ON_DAY,
    reflections.JOURNAL_PAGE_BUTTON,
    reflections.START_NOW,
    tips.ON_TIP,
    tips.SAVED_PAGE_BUTTON,
    tips.DAILY_ON,
    start.PRESS,
    start.WORKDAY,
    settings.PRESS,
    settings.WORKDAY,
    free_text.PRESS,
]
PREFIXES = sorted({found.prefix for found in LAYOUTS})
ACTIONS = sorted({action for found in LAYOUTS for action in found.actions})
# Digits that are not ASCII ("²".isdigit() is True; "٣" and "３" are decimal digits int() accepts), signs, spaces,
# numbers past any bound, and characters no button of ours carries.
ODD = [
    "²",
    "٣",
    "３",
    "¹²",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1_0",
    "0x1",
    "1e3",
    "",
    "99999999999999",
    "99999999999999999999",
    "9" * 40,
    "0",
    "00",
    "-",
    "2026-02-30",
    "2026-11-25",
    "99999-01-01",
    "２０２６-11-25",
    "21.30",
    "24.00",
    "\x00",
    "王",
    "\u202e",
    "\ud800",
]


def within(field: Field[Any], value: Any) -> bool:
    """What a field may give back, by its kind: the bounds it was declared with."""
    if isinstance(field, Trailing):
        return value == field.default or within(field.field, value)
    if isinstance(field, Either):
        return within(field.first, value) or within(field.second, value)
    if isinstance(field, Number):
        return type(value) is int and field.low <= value <= field.high
    if isinstance(field, Day):
        return type(value) is date and field.first <= value <= field.last
    if isinstance(field, Clock):
        return type(value) is time
    if isinstance(field, Choice):
        return value in field.values
    if isinstance(field, Token):
        return isinstance(value, str) and bool(re.fullmatch(rf"[\x21-\x7e]{{1,{field.longest}}}", value))
    raise AssertionError(f"a field kind this test does not know: {field!r}")


def check(data: str) -> None:
    for found in LAYOUTS:
        values = found.decode(data)
        if values is None:
            continue
        action, *rest = values
        assert action in found.actions and data.split(":")[0] == found.prefix
        assert len(rest) == len(found.fields)
        for field, value in zip(found.fields, rest, strict=True):
            assert within(field, value), (data, field, value)


@given(st.text())
def test_arbitrary_text_never_raises_and_stays_in_bounds(data: str) -> None:
    check(data)


@given(st.text(alphabet=st.characters(codec=None, categories=["Cs", "Nd", "No", "Cc", "Lo", "Zs"])))
def test_surrogates_and_odd_characters(data: str) -> None:
    check(data)


structured = st.builds(
    lambda prefix, action, fields: ":".join([prefix, action, *fields]),
    st.sampled_from(PREFIXES),
    st.sampled_from(ACTIONS),
    st.lists(st.sampled_from(ODD) | st.text(max_size=6) | st.integers().map(str), max_size=6),
)


@given(structured)
def test_known_prefixes_and_actions_with_odd_fields(data: str) -> None:
    check(data)


@pytest.mark.parametrize(
    "data",
    [
        "fu:done:²",
        "fu:acc:2:²",
        "rf:jpage:-:²",
        "tip:saved:-:²",
        "st:workdays:²",
        "ob:workdays:²",
        "fu:acc:2:99999999999999",
        "rf:jpage:-:99999999999999999999",
        "cl:card:99999999999999999999",
        "cl:list:all:٣",
        "rf:open:２０２６-11-25:-",
        "tip:on:-:99.99",
        "fu:done:1:x:y",  # one colon too many
        "fu:done:",
        "fu::1",
        "cl:card:1:new:all",  # a stage without its page
    ],
)
def test_the_inputs_that_crashed_decode_to_nothing(data: str) -> None:
    assert all(found.decode(data) is None for found in LAYOUTS)


def test_a_number_is_ascii_digits_within_its_bounds() -> None:
    number = Number(1, 2**31 - 1)
    assert number.read("42") == 42 and number.read(str(2**31 - 1)) == 2**31 - 1
    for refused in ("0", str(2**31), "²", "٣", "３", "-1", "+1", "1.0", " 1", ""):
        assert number.read(refused) is None


def test_buttons_the_bot_makes_decode_to_what_they_carry() -> None:
    assert followups.PRESSES["done"].decode(pack("fu", "done", 12)) == ("done", 12, "")
    assert followups.PRESSES["acc"].decode(pack("fu", "acc", 3, 29404800)) == ("acc", 3, 29404800)
    assert followups.PRESSES["sz"].decode(pack("fu", "sz", 3, "evening")) == ("sz", 3, "evening")
    assert client_buttons.PRESS.decode(pack("cl", "card", 7)) == ("card", 7, "", "all", 0)
    assert client_buttons.PRESS.decode(pack("cl", "setstage", 7, "closed", "viewing", 2)) == (
        "setstage",
        7,
        "closed",
        "viewing",
        2,
    )
    assert client_buttons.LIST.decode(pack("cl", "list", "all", 0)) == ("list", "all", 0)
    assert reflections.ON_DAY.decode(pack("rf", "ans", "2026-11-25", 3)) == ("ans", date(2026, 11, 25), "3")
    assert reflections.JOURNAL_PAGE_BUTTON.decode(pack("rf", "jpage", "-", 2)) == ("jpage", "-", 2)
    assert tips.DAILY_ON.decode(pack("tip", "on", "-", "08.30")) == ("on", "-", time(8, 30))
    assert settings.PRESS.decode(pack("st", "timezone", "Asia/Hong_Kong")) == ("timezone", "Asia/Hong_Kong")
    assert start.WORKDAY.decode(pack("ob", "workdays", 6)) == ("workdays", 6)


def test_a_layout_reads_only_its_own_prefix_and_actions() -> None:
    pair = layout("xx", ("a", "b"), Number(0, 9))
    assert pair.decode("xx:a:1") == ("a", 1)
    for other in ("yy:a:1", "xx:c:1", "xx:a", "xx:a:1:2", "xx", "", "x" * (MAX_CALLBACK_BYTES + 1)):
        assert pair.decode(other) is None
