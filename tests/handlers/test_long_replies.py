"""Replies over Telegram's 4,096 characters are split into parts Telegram takes: each valid HTML, each within the
limit, cut at paragraph or line boundaries where there are some, and together the whole text."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardButton

from handlers import reflections
from handlers.context import Turn
from handlers.keyboards import button
from handlers.replies import MESSAGE_LIMIT, split_html
from runtime.local_api import plain_text
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

WORDS = st.text(alphabet=st.characters(categories=["Lo", "Ll", "Nd", "So"], exclude_characters="<>&"), max_size=12)
PIECES = st.one_of(
    WORDS,
    WORDS.map(lambda w: f"<b>{w}</b>"),
    WORDS.map(lambda w: f"<i>{w}\n\n{w}</i>"),
    WORDS.map(lambda w: f'<a href="https://example.com/?a=1&amp;b=2">{w}</a>'),
    st.sampled_from(["\n", "\n\n", " ", "&amp;", "&lt;", "&#39;", "👨\u200d👩\u200d👧", "😀"]),
)


def width(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@given(st.lists(PIECES, max_size=60), st.integers(min_value=8, max_value=80))
def test_every_part_is_valid_html_within_the_limit_and_nothing_is_lost(pieces: list[str], limit: int) -> None:
    message = "".join(pieces)
    whole = plain_text(message, "HTML")
    parts = split_html(message, limit)
    shown = [plain_text(part, "HTML") for part in parts]  # raises on invalid HTML, as Telegram refuses it
    assert all(width(text) <= limit for text in shown) or parts == [message]
    assert re.sub(r"\s", "", "".join(shown)) == re.sub(r"\s", "", whole)  # only blank space may go at a cut


def test_a_short_message_is_left_alone() -> None:
    assert split_html("<b>王先生</b> 你好") == ["<b>王先生</b> 你好"]


def test_cuts_at_paragraphs_then_lines() -> None:
    paragraphs = ["段" * 3000, "落" * 3000]
    parts = split_html("\n\n".join(paragraphs))
    assert [plain_text(part, None).strip() for part in parts] == paragraphs
    lines = "\n".join(["行" * 100] * 60)  # 6,059 characters, no paragraph break
    parts = split_html(lines)
    assert len(parts) == 2 and all(part.endswith("行\n") or part.endswith("行") for part in parts)
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)


def test_a_tag_open_at_a_cut_is_closed_and_reopened() -> None:
    message = "<blockquote>" + html.escape("引" * 5000) + "</blockquote>"
    parts = split_html(message)
    assert len(parts) == 2
    assert all(part.startswith("<blockquote>") and part.endswith("</blockquote>") for part in parts)


def test_emoji_count_double_as_telegram_counts_them() -> None:
    parts = split_html("😀" * 3000)  # 6,000 UTF-16 code units
    assert len(parts) == 2 and all(width(part) <= MESSAGE_LIMIT for part in parts)


async def test_an_edit_over_the_limit_keeps_the_first_part_and_sends_the_rest(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit cannot become two messages: the pressed one shows the first part, the rest follow, buttons last."""
    chat = harness.chat(user_id=1001)
    await onboard(chat)
    await chat.send("/journal")
    long_answer = "\n".join(["好" * 99] * 60)

    async def long_view(tn: Turn, page: int) -> tuple[str, list[list[InlineKeyboardButton]]]:
        return tn.t("reflect.answered", answer=long_answer), [
            [button(tn.t("reflect.button.journal"), "rf", "jpage", "-", 0)]
        ]

    monkeypatch.setattr(reflections, "journal_view", long_view)
    reply = await chat.press_data("rf:jpage:-:0", on=chat.messages()[-1])
    [edited] = reply.edited
    assert edited.buttons == [] and len(edited.text) <= MESSAGE_LIMIT
    assert reply.sent and reply.sent[-1].labels == ["📔 我的复盘日记"]
    assert all(len(m.text) <= MESSAGE_LIMIT for m in reply.sent)
    assert re.sub(r"\s", "", edited.text + "".join(m.text for m in reply.sent)) == re.sub(r"\s", "", "✔️ " + long_answer)
