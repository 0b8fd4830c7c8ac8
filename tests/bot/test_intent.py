"""Reading a plain message: the clients it names, a name that reads like a new client, the contact it tells of."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.intent import contact_kind, guess_new_name, names_in

CLIENTS = {
    1: "王先生",
    2: "李姐",
    3: "王建国",
    4: "Mr Smith",
    5: "John Lee",
    6: "Lee",
    7: "陈",
    8: "Anna",
}


def named(text: str, clients: dict[int, str] = CLIENTS) -> list[str]:
    return [clients[client_id] for client_id, _, _ in names_in(text, list(clients.items()))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("王先生 明天下午3点 回电话", ["王先生"]),  # the whole name hides 王建国's "王先生"
        ("刚给李姐打了电话，她想看学区房", ["李姐"]),
        ("王总 周五 带看", ["王建国"]),  # a full name by surname and title
        ("王建国先生想看三居", ["王建国"]),
        ("remind me to call Mr Smith tomorrow", ["Mr Smith"]),
        ("call smith back", ["Mr Smith"]),
        ("met John at the flat", ["John Lee"]),
        ("Lee tomorrow 3pm", ["Lee"]),  # the client registered as "Lee", not John Lee
        ("sleep early, the meeting is at 9", []),  # "Lee" inside a word is no name
        ("陈先生 明天", ["陈"]),  # registered by surname alone
        ("陈述一下情况", []),  # a lone character inside a word is no name
        ("王先生和李姐 明天", ["王先生", "李姐"]),  # in the order named
        ("Annabel called", []),
        ("", []),
    ],
)
def test_clients_named_in_a_message(text: str, expected: list[str]) -> None:
    assert named(text) == expected


def test_two_clients_a_short_name_fits_are_both_found() -> None:
    assert named("王总 明天", {1: "王建国", 2: "王伟", 3: "李姐"}) == ["王建国", "王伟"]
    assert named("call Lee", {1: "John Lee", 2: "Mary Lee"}) == ["John Lee", "Mary Lee"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("王先生 明天下午3点", "王先生"),
        ("刚给李姐打了电话", "李姐"),
        ("周末王姐要来看房", "王姐"),  # the surname nearest the title, not 周末王姐
        ("王建国先生想看三居", "王建国先生"),
        ("张总 下周一", "张总"),
        ("follow up with Mrs Brown next monday", "Mrs Brown"),
        ("明天提醒我", None),
        ("大哥你好", None),  # 大 is no surname
        ("asdf", None),
    ],
)
def test_a_name_that_reads_like_a_client(text: str, expected: str | None) -> None:
    assert guess_new_name(text) == expected


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("刚给李姐打了电话，她想看学区房", "call"),
        ("王先生 微信聊了一下", "message"),
        ("今天和王先生见面了", "visit"),
        ("帶看了兩套", "viewing"),  # traditional script
        ("called John, he wants 3 bedrooms", "call"),
        ("met Smith at the metro", "visit"),
        ("the metro is near", None),  # "met" inside a word
        ("带看后打电话给他", "viewing"),  # the first one told of
        ("明天下午3点", None),
    ],
)
def test_the_contact_a_message_tells_of(text: str, kind: str | None) -> None:
    assert contact_kind(text) == kind


@given(st.text(max_size=200), st.lists(st.text(max_size=12), max_size=6))
def test_any_text_and_names_give_spans_of_named_clients(text: str, names: list[str]) -> None:
    clients = list(enumerate(names, start=1))
    found = names_in(text, clients)
    assert len({client_id for client_id, _, _ in found}) == len(found)
    for client_id, start, end in found:
        assert 0 <= start < end <= len(text) and 1 <= client_id <= len(names)
    assert [start for _, start, _ in found] == sorted(start for _, start, _ in found)


@given(st.text(max_size=40), st.text(max_size=40), st.sampled_from(list(CLIENTS.values())))
def test_a_whole_name_between_spaces_is_always_found(before: str, after: str, name: str) -> None:
    assert name in named(f"{before} {name} {after}", {1: name})


def test_a_name_whose_case_folds_longer_keeps_its_place() -> None:
    """Found by hypothesis: "ß" folds to "ss", which shifted the span past the end of the text."""
    assert names_in("ß", [(1, "ß")]) == [(1, 0, 1)]
    assert names_in("Straße 明天", [(1, "STRASSE"), (2, "straße")]) == [(2, 0, 6)]
