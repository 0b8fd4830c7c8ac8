"""What an agent types about a client, read by rule: a name that reads like a sentence, and the contact kinds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.clients import ClientDraft, draft_data, draft_from, looks_like_sentence, parse_client_line, parse_contact_kind
from bot.statuses import ContactKind


@pytest.mark.parametrize(
    "name",
    ["王先生", "欧阳先生", "陈太太", "王老师", "李姐", "朋友介绍李姐", "客户01", "Mr Chan", "Wang", "Émilie", "张总"],
)
def test_names_are_names(name: str) -> None:
    assert not looks_like_sentence(name)


@pytest.mark.parametrize(
    "line",
    [
        "客户很在意学区和地铁，预算有限…",
        "预算有限，想要两居",
        "他说下周再联系吧。",
        "刚刚打电话客户说要考虑一下",
        "client wants a school nearby",
        "customer 2-bed",
        "王先生？",
    ],
)
def test_sentences_typed_as_a_client_line_are_asked_about(line: str) -> None:
    draft = parse_client_line(line)
    assert draft is not None and looks_like_sentence(draft.name)


@given(st.text(max_size=200))
def test_any_name_is_read_without_raising(text: str) -> None:
    assert looks_like_sentence(text) in (True, False)


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("微信", ContactKind.WECHAT),
        ("WeChat", ContactKind.WECHAT),
        ("消息", ContactKind.WECHAT),
        ("电话", ContactKind.CALL),
        ("電話", ContactKind.CALL),
        ("call", ContactKind.CALL),
        ("到访", ContactKind.VISIT),
        ("面談", ContactKind.VISIT),
        ("meeting", ContactKind.VISIT),
        ("带看", ContactKind.VIEWING),
        (" Viewing ", ContactKind.VIEWING),
        ("明天", None),
        ("", None),
    ],
)
def test_contact_kinds_in_the_agents_words(typed: str, kind: ContactKind | None) -> None:
    assert parse_contact_kind(typed) == kind


@given(st.text(max_size=50))
def test_any_text_is_a_kind_or_none(text: str) -> None:
    assert parse_contact_kind(text) in (None, *ContactKind)


def test_a_kept_draft_comes_back_and_garbage_does_not() -> None:
    draft = ClientDraft("王先生", "+8613800138000", "三居", "300万", None, "周末")
    assert draft_from(draft_data(draft)) == draft
    garbage: object
    for garbage in (None, "王先生", [], {"name": 3}, {"name": "王", "phone": 13800138000}, {"phone": "+86"}):
        assert draft_from(garbage) is None
