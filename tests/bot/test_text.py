"""The rule for what stored text may hold (bot/text.py), and that every text column applies it on both backends."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bulk import insert_rows
from bot.db import session_factory
from bot.models import Agent, Client, ContactLog, FollowUp, Reflection
from bot.text import clean, clip, is_blank

NOW = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f", "\u061c"]
FAMILY = "👨\u200d👩\u200d👧"  # one emoji made of three joined by ZWJ
ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # a flag spelled with tag characters
NASTY = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", *BIDI_CONTROLS, *INVISIBLE]


def allowed(char: str, before: str, after: str) -> bool:
    """The rule, written from its statement rather than from the code."""
    category = unicodedata.category(char)
    if char in "\n\t":
        return True
    if category in ("Cc", "Cs") or char in BIDI_CONTROLS or char in "\u2028\u2029":
        return False
    if category == "Cf":
        emoji = {"So", "Sk"}
        if char == "\u200d":
            return unicodedata.category(before or " ") in emoji or before == "\ufe0f"
        return 0xE0020 <= ord(char) <= 0xE007F
    return True


@given(
    st.text(alphabet=st.characters(codec=None), max_size=80)
    | st.lists(st.sampled_from([*NASTY, "王", "a", "\n", " ", "👨"])).map("".join)
)
def test_clean_keeps_nothing_the_rule_forbids(raw: str) -> None:
    result = clean(raw)
    for index, char in enumerate(result):
        before = result[index - 1] if index else ""
        after = result[index + 1] if index + 1 < len(result) else ""
        assert allowed(char, before, after), (raw, result, char)
    assert clean(result) == result  # once is enough
    result.encode("utf-8")  # storable in any UTF-8 database


@given(st.text(alphabet=st.characters(categories=["Lo", "Ll", "Lu", "Nd", "Po", "Zs", "So"]), max_size=60))
def test_ordinary_text_is_kept_as_it_is(raw: str) -> None:
    assert clean(raw) == raw


def test_cjk_emoji_sequences_and_line_breaks_survive() -> None:
    for kept in ("王先生 三居 预算300万", "陳生 九龍塘", FAMILY, ENGLAND, "👍🏽", "1️⃣", "first\nsecond\tthird"):
        assert clean(kept) == kept
    assert clean("line\r\nnext\rlast\u2028end") == "line\nnext\nlast\nend"


def test_what_is_removed() -> None:
    assert clean("王\x00先\u202e生\u200b") == "王先生"
    assert clean("a\u2066b\u2069c\u202ad\u202ce") == "abcde"
    assert clean("ab\u200dcd") == "abcd"  # a joiner between letters is a stray one
    assert clean("\ud800x") == "x"


def test_blank_means_nothing_to_read() -> None:
    for blank in ("", "   ", "\u3000", "\u200b\u200b", "\u200b\u3000\u2060", "\x00", "\u202e"):
        assert is_blank(blank)
    for something in ("王", "a", FAMILY):
        assert not is_blank(something)


def test_clip() -> None:
    assert clip("abc", 3) == "abc"
    assert clip("abcd", 3) == "ab…" and len(clip("x" * 5000, 100)) == 100


@pytest.mark.parametrize("data_key", [None], indirect=True)  # reads the stored values back with plain SQL
async def test_every_text_column_stores_clean_text_on_both_backends(engine: AsyncEngine) -> None:
    """The last line of defence: text that did not pass the input boundary is still stored clean."""
    sessions = session_factory(engine)
    dirty = "王\x00先\u202e生\u200b"
    async with sessions() as session, session.begin():
        agent = Agent(
            telegram_user_id=1,
            chat_id=1,
            display_name="小\x00王",
            language="zh-Hans",
            timezone="Asia/Shanghai",
            reflection_time=NOW.time(),
            work_days="12345",
            digest_weekday=7,
            digest_time=NOW.time(),
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(agent)
        await session.flush()
        client = Client(
            agent_id=agent.id,
            name=dirty,
            phone="+86\x00",
            needs=dirty,
            budget=dirty,
            source=dirty,
            notes=dirty,
            stage="new",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(client)
        await session.flush()
        session.add(ContactLog(client_id=client.id, kind="call", note=dirty, at=NOW))
        session.add(
            FollowUp(
                agent_id=agent.id,
                client_id=client.id,
                due_at=NOW,
                note=dirty,
                outcome=dirty,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        session.add(
            Reflection(
                agent_id=agent.id,
                day=NOW.date(),
                status="done",
                went_well=dirty,
                to_improve=dirty,
                lesson=dirty,
                tomorrow=dirty,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with sessions() as session, session.begin():
        columns = [Client.__table__.c.agent_id, Client.__table__.c.name, Client.__table__.c.stage]
        columns += [Client.__table__.c.created_at, Client.__table__.c.updated_at, Client.__table__.c.archived]
        await insert_rows(
            session,
            Client.__table__,  # type: ignore[arg-type]
            [column.name for column in columns],
            [(agent.id, "\u202e李\x00小姐", "new", NOW, NOW, False)],
        )
    async with engine.connect() as connection:
        rows = {
            "agent": (await connection.execute(text("SELECT display_name FROM agents"))).scalars().all(),
            "client": (
                await connection.execute(
                    text("SELECT name, phone, needs, budget, source, notes FROM clients ORDER BY id")
                )
            ).all(),
            "contact": (await connection.execute(text("SELECT note FROM contact_logs"))).scalars().all(),
            "follow_up": (await connection.execute(text("SELECT note, outcome FROM follow_ups"))).all(),
            "reflection": (
                await connection.execute(text("SELECT went_well, to_improve, lesson, tomorrow FROM reflections"))
            ).all(),
        }
    assert rows["agent"] == ["小王"]
    assert [tuple(row) for row in rows["client"]] == [
        ("王先生", "+86", "王先生", "王先生", "王先生", "王先生"),
        ("李小姐", None, None, None, None, None),
    ]
    assert rows["contact"] == ["王先生"]
    assert [tuple(row) for row in rows["follow_up"]] == [("王先生", "王先生")]
    assert [tuple(row) for row in rows["reflection"]] == [("王先生",) * 4]
    async with sessions() as session:  # a lookup by the dirty value finds the clean row, as on the way in
        found = (await session.execute(select(Client).where(Client.name == dirty))).scalars().all()
        assert [c.name for c in found] == ["王先生"]
