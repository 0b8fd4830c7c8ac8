"""Bad input through the handlers, on both backends: forged or stale buttons, whitespace in any script, text
longer than a message, control and invisible characters. Each gets a friendly answer in the agent's language,
logs no error and changes nothing; what is saved is clean; no reply is ever too long for Telegram."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from bot import followups as follow_up_domain
from bot.models import Base, Client, ContactLog, FollowUp, Reflection
from handlers import followups
from handlers.clients import buttons as client_buttons
from runtime.delivery import engine_of
from runtime.local_api import MESSAGE_LIMIT, LocalChat, Reply
from tests.handlers.test_button_codec import LAYOUTS
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

STALE = "这个按钮已经过期了，请用最新的消息操作。"
STALE_EN = "This button is no longer valid; please use the latest message."
APOLOGY = "😥 抱歉"
A_NAMES = ("王先生", "李小姐")
A_PHONES = ("13800138000", "138 0013 8000", "+8613800138000")


async def snapshot(harness: Harness) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the ids of the updates handled (each press adds its own): what "changes
    nothing" compares."""
    async with harness.services.sessions() as session:
        return {
            table.name: sorted((tuple(row) for row in (await session.execute(select(table))).all()), key=repr)
            for table in Base.metadata.sorted_tables
            if table.name != "handled_updates"
        }


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def agent_a(harness: Harness) -> tuple[LocalChat, list[int], list[int]]:
    """Agent A (Hong Kong, zh-Hans): two clients, each with a follow-up tomorrow; returns their ids."""
    chat = harness.chat(user_id=1001)
    await onboard(chat)
    await hold_back_other_kinds(harness, "followup")
    await chat.send("/client 王先生 13800138000 三居 预算300万")
    await chat.send("/client 李小姐 13900139000")
    for name in A_NAMES:
        await chat.send(f"/followup {name} 明天下午3点 带看")
        await chat.press("✅ 确认")
    async with harness.services.sessions() as session:
        client_ids = list((await session.execute(select(Client.id).order_by(Client.id))).scalars())
        follow_up_ids = list((await session.execute(select(FollowUp.id).order_by(FollowUp.id))).scalars())
    return chat, client_ids, follow_up_ids


async def agent_b(harness: Harness) -> LocalChat:
    """Agent B (English), with a client and a follow-up of their own (ids after A's)."""
    chat = harness.chat(user_id=2002, first_name="Bea", language_code="en")
    await onboard(chat, language="English")
    await hold_back_other_kinds(harness, "followup")
    await chat.send("/client Lee 13700137000")
    await chat.send("/followup Lee tomorrow 3pm")
    await chat.press("✅ Confirm")
    return chat


# ---------------------------------------------------------------------------------------------- buttons

CRASHED = [
    "fu:done:²",
    "fu:acc:2:²",
    "rf:jpage:-:²",
    "tip:saved:-:²",
    "st:workdays:²",
    "ob:workdays:²",
    "fu:acc:2:99999999999999",
    "rf:jpage:-:99999999999999999999",
    "fu:done:٣",
    "cl:card:99999999999999999999",
    "cl:list:all:٣",
    "rf:open:２０２６-11-25:-",
    "tip:on:-:99.99",
    "fu:sz:1:forever",
]


@pytest.mark.parametrize("data", CRASHED)
async def test_each_input_that_crashed_gets_the_stale_notice(
    harness: Harness, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    chat, _, _ = await agent_a(harness)
    before = await snapshot(harness)
    with caplog.at_level(logging.INFO):
        reply = await chat.press_data(data, on=chat.last_with_buttons())
    assert reply.toast == STALE
    assert (reply.sent, reply.edited) == ([], [])
    assert errors(caplog) == []
    assert await snapshot(harness) == before


async def test_arbitrary_data_per_prefix_gets_the_stale_notice(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chat, _, _ = await agent_a(harness)
    before = await snapshot(harness)
    on = chat.last_with_buttons()
    prefixes = sorted({layout.prefix for layout in LAYOUTS})

    pressed: list[str] = []

    # Hypothesis draws the data; the presses run after it, in the test's own event loop.
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.sampled_from(prefixes), st.text(max_size=30) | st.sampled_from(["done:²", "acc:1:٣", "jpage:-:-1"]))
    def draw(prefix: str, rest: str) -> None:
        data = f"{prefix}:{rest}"
        assume(all(layout.decode(data) is None for layout in LAYOUTS))  # well-formed data is not bad input
        pressed.append(data)

    draw()
    with caplog.at_level(logging.INFO):
        for data in pressed:
            reply = await chat.press_data(data, on=on)
            assert reply.toast == STALE, data
            assert (reply.sent, reply.edited) == ([], []), data
    assert errors(caplog) == []
    assert await snapshot(harness) == before


def leaked(chat: LocalChat, replies: list[Reply]) -> list[str]:
    """Anything of agent A's (client names, phone numbers) that agent B was shown."""
    shown = [m.text for m in chat.messages()] + [label for m in chat.messages() for label in m.labels]
    shown += [reply.toast or "" for reply in replies]
    return [secret for secret in (*A_NAMES, *A_PHONES) for text in shown if secret in text]


# A value that would be accepted for each action, were the ids B's own.
FOLLOW_UP_VALUES = {"new": "", "ok": "", "done": "", "skip": "", "snooze": "", "back": "", "move": "", "sz": "hour"}
CLIENT_VALUES = {
    "card": ["new", "edit", ""],
    "skip": ["phone"],
    "log": ["-"],
    "kind": ["call"],
    "nonote": ["call"],
    "stage": ["-"],
    "setstage": ["closed"],
    "archive": ["ask", "yes"],
    "edit": ["-"],
    "field": ["name"],
    "clear": ["phone"],
    "keep": ["name"],
    "hist": ["0", "3"],
}


async def test_another_agents_ids_on_every_follow_up_button_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    _, client_ids, follow_up_ids = await agent_a(harness)
    bea = await agent_b(harness)
    own = bea.last_with_buttons()
    before = await snapshot(harness)
    soon = int((harness.clock.now() + timedelta(days=1)).timestamp() // 60)
    values = {**FOLLOW_UP_VALUES, "acc": str(soon), "to": str(soon), "alt": str(soon), "add": "", "rep": "", "no": ""}
    values["keep"] = "Asia/Shanghai"  # the zone before a change: B never had A's follow-ups to move
    assert set(followups.BUTTONS) <= set(values), "a new follow-up button needs a value in this test"
    replies = []
    with caplog.at_level(logging.INFO):
        for action in followups.BUTTONS:
            for ident in {*client_ids, *follow_up_ids}:  # every id of A's, whichever kind the action takes
                data = ":".join(part for part in ("fu", action, str(ident), values[action]) if part)
                reply = await bea.press_data(data, on=own)
                assert reply.toast == STALE_EN, data
                assert (reply.sent, reply.edited) == ([], []), data
                replies.append(reply)
    assert errors(caplog) == []
    assert leaked(bea, replies) == []
    assert await snapshot(harness) == before


async def test_another_agents_ids_on_every_client_button_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    _, client_ids, _ = await agent_a(harness)
    bea = await agent_b(harness)
    own = bea.last_with_buttons()
    before = await snapshot(harness)
    assert set(client_buttons.CLIENT_ACTIONS) <= set(CLIENT_VALUES), "a new client button needs a value in this test"
    replies = []
    with caplog.at_level(logging.INFO):
        for action in client_buttons.CLIENT_ACTIONS:
            for ident in client_ids:
                for value in CLIENT_VALUES[action]:
                    for origin in ("", ":all:0", ":new:0"):
                        data = f"cl:{action}:{ident}" + (f":{value}{origin}" if value else "")
                        reply = await bea.press_data(data, on=own)
                        assert reply.toast == STALE_EN, data
                        assert (reply.sent, reply.edited) == ([], []), data
                        replies.append(reply)
    assert errors(caplog) == []
    assert leaked(bea, replies) == []
    assert await snapshot(harness) == before


# ---------------------------------------------------------------------------------------------- whitespace

IDEOGRAPHIC_SPACE = "\u3000"


async def test_followup_with_only_an_ideographic_space(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    chat, _, _ = await agent_a(harness)
    before = await snapshot(harness)
    with caplog.at_level(logging.INFO):
        reply = await chat.send("/followup" + IDEOGRAPHIC_SPACE)
        assert reply.texts and not reply.texts[0].startswith(APOLOGY)
        reply = await chat.send(IDEOGRAPHIC_SPACE)  # the flow asks which client: a blank answer
        assert reply.texts == ["🤔 没收到内容，再发一次吧。"]
        reply = await chat.send(f"/followup {IDEOGRAPHIC_SPACE}{IDEOGRAPHIC_SPACE}\u200b")
        assert reply.texts and not reply.texts[0].startswith(APOLOGY)
    assert errors(caplog) == []
    after = await snapshot(harness)
    assert {k: v for k, v in after.items() if k != "conversation_states"} == {
        k: v for k, v in before.items() if k != "conversation_states"
    }


@pytest.mark.parametrize("blank", [IDEOGRAPHIC_SPACE, " \t ", "\u200b\u2060", "\x00", "\u202e"])
@pytest.mark.parametrize(
    "steps",
    [
        ["/followup"],  # which client
        ["/followup 王先生"],  # when
        ["/client"],  # the name
        ["/client 赵先生"],  # phone: registers 赵先生 first, then asks
        ["/settings", "📝 复盘时间"],
        ["/reflect", "3", "😕 2"],  # a written answer
        ["/reflect", "3"],  # the mood
        ["/clients", "王先生 · 新客户", "📞 记录联系", "📞 电话"],  # a contact's note
        ["/clients", "王先生 · 新客户", "✏️ 编辑", "📝 备注"],  # a detail's new value
    ],
)
async def test_a_blank_answer_anywhere_gets_a_friendly_reply(
    harness: Harness, caplog: pytest.LogCaptureFixture, steps: list[str], blank: str
) -> None:
    chat, _, _ = await agent_a(harness)
    for step in steps:
        await (chat.send(step) if step.startswith("/") else chat.press(step))
    before = await snapshot(harness)
    with caplog.at_level(logging.INFO):
        reply = await chat.send(blank)
    assert reply.texts and all(not text.startswith(APOLOGY) for text in reply.texts)
    assert errors(caplog) == []
    assert await snapshot(harness) == before


# ---------------------------------------------------------------------------------------------- length


def all_fit(chat: LocalChat) -> None:
    assert all(0 < len(m.text) <= MESSAGE_LIMIT for m in chat.messages())


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/client " + "王" * 4000, "✂️ 有点长了：名字最多 64 个字"),
        ("/client 王先生 三居 备注:" + "备" * 4000, "✂️ 有点长了：备注最多 1000 个字"),
        ("/client 王先生 " + "需" * 4000, "✂️ 有点长了：需求最多 1000 个字"),
        ("/client 王先生 " + "1" * 4000, "🤔 “" + "1" * 99 + "…”好像不是一个有效的电话号码"),
        ("/tip " + "跟" * 4090, "没有找到“" + "跟" * 99 + "…”"),
        ("/followup " + "王" * 4000 + " 明天", "没找到叫“" + "王" * 99 + "…”的客户"),
        ("/followup 王先生 明天下午3点 " + "备" * 4000, "✂️ 有点长了：最多 1000 个字"),
        ("/clients " + "王" * 4000, ""),
        ("/settings " + "x" * 4000, ""),
    ],
)
async def test_long_input_gets_a_limit_or_a_clipped_echo_and_saves_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture, line: str, expected: str
) -> None:
    chat, _, _ = await agent_a(harness)
    before = await snapshot(harness)
    with caplog.at_level(logging.INFO):
        reply = await chat.send(line)
    assert reply.texts and reply.texts[0].startswith(expected) and not reply.texts[0].startswith(APOLOGY)
    assert errors(caplog) == []
    all_fit(chat)
    after = await snapshot(harness)
    assert {k: v for k, v in after.items() if k != "conversation_states"} == {
        k: v for k, v in before.items() if k != "conversation_states"
    }


async def test_a_long_phone_in_the_guided_flow_is_echoed_clipped(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chat, _, _ = await agent_a(harness)
    await chat.send("/client")
    await chat.send("赵先生")
    with caplog.at_level(logging.INFO):
        reply = await chat.send("1" * 4096)
    assert reply.texts[0].startswith("🤔") and "1" * 99 + "…" in reply.texts[0]
    assert errors(caplog) == []
    all_fit(chat)
    async with harness.services.sessions() as session:
        [zhao] = [client for client in (await session.scalars(select(Client))).all() if client.name == "赵先生"]
    assert zhao.phone is None


async def test_a_journal_entry_of_long_answers_is_shown_in_parts(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chat = harness.chat(user_id=1001, language_code="en")
    await onboard(chat, language="English")
    await chat.send("/reflect")
    await chat.press("3")
    await chat.press("😕 2")
    answers = [ch * 1000 for ch in "wile"]
    for answer in answers:
        await chat.send(answer)
    with caplog.at_level(logging.INFO):
        await chat.send("/journal")
        reply = await chat.press(chat.last_with_buttons().labels[0])  # type: ignore[union-attr]  # today
    assert errors(caplog) == []
    assert len(reply.sent) >= 2 and all(len(m.text) <= MESSAGE_LIMIT for m in reply.sent)
    shown = "".join(m.text for m in reply.sent)
    assert len(shown) > MESSAGE_LIMIT  # it would not have fitted in one
    assert all(answer in shown for answer in answers)
    assert reply.sent[-1].buttons and not any(m.buttons for m in reply.sent[:-1])  # the buttons come last
    all_fit(chat)


async def test_a_nudge_with_a_very_long_note_fits(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """A note saved before notes had a limit (or by an import) still makes a nudge Telegram takes."""
    chat, client_ids, _ = await agent_a(harness)
    agent = await harness.agent()
    due = harness.clock.now() + timedelta(hours=2)
    async with harness.services.sessions() as session, session.begin():
        client = await session.get(Client, client_ids[0])
        assert client is not None
        await follow_up_domain.add_follow_up(session, agent, client, due, "备" * 10_000, harness.clock.now())
    harness.clock.set(due)
    with caplog.at_level(logging.INFO):
        await engine_of(harness.app).sweep()
    assert errors(caplog) == []
    nudge = chat.messages()[-1]
    assert nudge.text.startswith("⏰ 跟进提醒：王先生") and "备" * 500 in nudge.text
    all_fit(chat)


# ---------------------------------------------------------------------------------------------- characters

DIRTY = "\x00\u202e\u200b\u2066"


async def test_control_and_invisible_characters_are_not_stored_or_echoed(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chat = harness.chat(user_id=1001)
    await onboard(chat)
    with caplog.at_level(logging.INFO):
        await chat.send(f"/client 王{DIRTY}先生 13800138000 三{DIRTY}居 备注:周末{DIRTY}有空")
        await chat.press("📞 记录联系")
        await chat.press("📞 电话")
        await chat.send(f"客户{DIRTY}说周末看房")
        await chat.send(f"/followup 王先生 明天下午3点 带{DIRTY}看")
        await chat.press("✅ 确认")
        await chat.send("/reflect")
        await chat.press("3")
        await chat.press("😕 2")
        for answer in ("顺", "改", "悟", "明"):
            await chat.send(f"{answer}{DIRTY}了")
    assert errors(caplog) == []
    async with harness.services.sessions() as session:
        client = (await session.execute(select(Client))).scalar_one()
        contact = (await session.execute(select(ContactLog))).scalar_one()
        follow_up = (await session.execute(select(FollowUp))).scalar_one()
        reflection = (await session.execute(select(Reflection))).scalar_one()
    assert (client.name, client.needs, client.notes) == ("王先生", "三居", "周末有空")
    assert contact.note == "客户说周末看房"
    assert follow_up.note == "带看"
    answers = (reflection.went_well, reflection.to_improve, reflection.lesson, reflection.tomorrow)
    assert answers == ("顺了", "改了", "悟了", "明了")
    for shown in chat.messages():
        assert not set(DIRTY) & set(shown.text + "".join(shown.labels)), shown.text
    async with harness.services.sessions() as session:  # and nothing dirty anywhere in the database
        for table in ("clients", "contact_logs", "follow_ups", "reflections", "conversation_states"):
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            assert not any(isinstance(v, str) and set(DIRTY) & set(v) for row in rows for v in row), table


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200c\u2060", "\u202e\u2066", "\x00", "\ufeff\u00ad"])
async def test_a_name_of_only_invisible_characters_is_no_name(
    harness: Harness, caplog: pytest.LogCaptureFixture, invisible: str
) -> None:
    chat = harness.chat(user_id=1001)
    await onboard(chat)
    with caplog.at_level(logging.INFO):
        reply = await chat.send(f"/client {invisible} 13800138000")
        assert reply.texts[0].startswith("🤔 没看到客户的名字")
        await chat.send("/client")
        reply = await chat.send(invisible)
        assert reply.texts[0].startswith("🤔 没看到客户的名字")
    assert errors(caplog) == []
    async with harness.services.sessions() as session:
        assert (await session.execute(select(Client))).scalars().all() == []


async def test_cjk_and_emoji_names_are_kept_whole(harness: Harness) -> None:
    chat = harness.chat(user_id=1001)
    await onboard(chat)
    family = "👨\u200d👩\u200d👧"
    await chat.send(f"/client 陳生{family} 13800138000")
    async with harness.services.sessions() as session:
        client = (await session.execute(select(Client))).scalar_one()
    assert client.name == f"陳生{family}"
