"""A plain message outside any flow is not a dead end (issue 12 §3): what it names is offered with buttons.

Agents are in Hong Kong (UTC+8, the city onboarding picks); the clock starts on Wednesday 2026-11-25 09:00 local.
Nothing is saved until a button is pressed, and a follow-up still waits for the confirm step's ✅.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.models import Client, ContactLog
from bot.statuses import ClientEvent
from runtime.local_api import LocalChat
from tests.handlers.test_bad_input import errors, snapshot
from tests.handlers.test_followups import follow_ups
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

STALE = "这个按钮已经过期了，请用最新的消息操作。"
STALE_EN = "This button is no longer valid; please use the latest message."
HELP = "🤔 这句话里我没认出客户或时间。"
HELP_EN = "🤔 I couldn't find a client or a time in that."


async def agent(
    harness: Harness, *clients: str | tuple[str, str], user_id: int = 1001, language_code: str = "zh-hans"
) -> LocalChat:
    """An onboarded agent with these clients (a name, or a name and a phone), registered as the agent would."""
    chat = harness.chat(user_id=user_id, language_code=language_code)
    await onboard(chat, language="English" if language_code == "en" else "简体中文")
    await hold_back_other_kinds(harness, "followup")
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session, session.begin():
        for index, client in enumerate(clients):
            name, phone = client if isinstance(client, tuple) else (client, None)
            moment = harness.clock.now() - timedelta(minutes=len(clients) - index)  # the last is the most recent
            details = {"name": name, "phone": phone, "stage": "new", "archived": False}
            session.add(Client(agent_id=agent_id, created_at=moment, updated_at=moment, **details))
    return chat


async def client_id(harness: Harness, name: str, user_id: int = 1001) -> int:
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session:
        # by name in Python: with DATA_KEY set (TEST_DATA_KEY=1) names are encrypted and SQL cannot compare them
        query = select(Client.id, Client.name).where(Client.agent_id == agent_id).order_by(Client.id)
        return next(found for found, called in (await session.execute(query)).all() if called == name)


async def contacts(harness: Harness) -> list[ContactLog]:
    """The contacts logged (not the history's stage moves, which a logged viewing also writes)."""
    async with harness.services.sessions() as session:
        query = select(ContactLog).where(ContactLog.kind != ClientEvent.STAGE).order_by(ContactLog.id)
        return list((await session.execute(query)).scalars())


# ---------------------------------------------------------------------------------------------- a client and a time


async def test_client_time_and_note_offer_the_follow_up_which_is_saved_only_on_confirm(harness: Harness) -> None:
    chat = await agent(harness, "王先生")
    reply = await chat.send("王先生 明天下午3点 回电话")
    assert reply.texts == ["💡 我读到的是：\n👤 王先生 · 新客户\n🕒 11月26日 周四 15:00\n📝 回电话\n\n要我怎么处理？"]
    assert reply.last.labels == ["📅 11月26日 周四 15:00 跟进", "📝 记录：📞 电话", "👤 客户卡片"]
    assert await follow_ups(harness) == [] and await contacts(harness) == []

    reply = await chat.press("📅 11月26日 周四 15:00 跟进")
    assert reply.texts == ["📅 跟进 王先生：11月26日 周四 15:00\n📝 回电话\n确认吗？"]
    assert await follow_ups(harness) == []  # the confirm step still waits for ✅
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.note, saved.status) == (await client_id(harness, "王先生"), "回电话", "open")
    assert saved.due_at == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Mr Smith", "Smith"])
async def test_remind_me_to_call_mr_smith_tomorrow(harness: Harness, name: str) -> None:
    chat = await agent(harness, name, "Lee", language_code="en")
    reply = await chat.send("remind me to call Mr Smith tomorrow")
    read = f"👤 {name} · New\n🕒 Thu 26 Nov, 10:00\n📝 remind me to call Mr Smith"
    assert reply.texts == [f"💡 Here's what I read:\n{read}\n\nWhat shall I do?"]
    assert reply.last.labels[0] == "📅 Follow up Thu 26 Nov, 10:00"
    await chat.press("📅 Follow up Thu 26 Nov, 10:00")
    await chat.press("✅ Confirm")
    [saved] = await follow_ups(harness)
    assert saved.client_id == await client_id(harness, name)
    assert (saved.note, saved.due_at) == ("remind me to call Mr Smith", datetime(2026, 11, 26, 2, 0, tzinfo=UTC))


# ---------------------------------------------------------------------------------------------- what happened


async def test_a_call_just_made_is_logged_with_the_whole_message_as_its_note(harness: Harness) -> None:
    chat = await agent(harness, "李姐", "王先生")
    reply = await chat.send("刚给李姐打了电话，她想看学区房")
    assert reply.texts == [
        "💡 我读到的是：\n👤 李姐 · 新客户\n📞 电话（已联系）\n📝 刚给李姐打了电话，她想看学区房\n\n要我怎么处理？"
    ]
    assert reply.last.labels == ["📝 记录：📞 电话", "📅 安排跟进", "👤 客户卡片"]
    assert await contacts(harness) == []
    reply = await chat.press("📝 记录：📞 电话")
    assert reply.edited[0].text.startswith("✅ 已记录：📞 电话 · 李姐")
    [logged] = await contacts(harness)
    assert (logged.client_id, logged.kind, logged.note) == (
        await client_id(harness, "李姐"),
        "call",
        "刚给李姐打了电话，她想看学区房",
    )
    assert "下次跟进" in reply.texts[0] or reply.last.labels  # the next follow-up is suggested, as after the card's log


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("今天和王先生见面了，想买三居", "visit"),  # 今天 is when it happened, not a follow-up time
        ("王先生 微信聊了一下预算", "message"),
        ("带看了王先生两套房", "viewing"),
        ("met 王先生 today at the flat", "visit"),
    ],
)
async def test_the_contact_word_chooses_the_kind(harness: Harness, text: str, kind: str) -> None:
    chat = await agent(harness, "王先生")
    reply = await chat.send(text)
    await chat.press(reply.last.labels[0])
    [logged] = await contacts(harness)
    assert logged.kind == kind and logged.note


# ------------------------------------------------------------------------------------------ only a name, only a time


async def test_a_name_alone_offers_the_card_a_contact_and_a_follow_up(harness: Harness) -> None:
    chat = await agent(harness, "王先生")
    reply = await chat.send("王先生")
    assert reply.texts == ["💡 我读到的是：\n👤 王先生 · 新客户\n\n要我怎么处理？"]
    assert reply.last.labels == ["👤 客户卡片", "📝 记录联系", "📅 安排跟进"]
    offer = reply.last
    follow_up = offer.data_for("📅 安排跟进")

    reply = await chat.press("👤 客户卡片", on=offer)
    assert reply.texts[0].startswith("👤 王先生 · 新客户")

    reply = await chat.press("📝 记录联系", on=offer)
    assert reply.edited[0].labels == ["📞 电话", "💬 微信", "🤝 到访/面谈", "🏠 带看"]
    await chat.press("🤝 到访/面谈")
    [logged] = await contacts(harness)
    assert (logged.kind, logged.note) == ("visit", None)

    # The offer is spent once acted on; a fresh one schedules at the stage's usual next time, after ✅.
    assert (await chat.press_data(follow_up, on=offer)).toast == STALE
    reply = await chat.send("王先生")
    reply = await chat.press("📅 安排跟进")
    assert reply.texts == ["📅 跟进 王先生：11月26日 周四 10:00\n确认吗？"]
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert saved.due_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


async def test_a_time_without_a_client_asks_which_client(harness: Harness) -> None:
    chat = await agent(harness, "王先生", "李小姐")
    reply = await chat.send("明天提醒我")
    assert reply.texts == ["💡 我读到的是：\n🕒 11月26日 周四 10:00\n📝 提醒我\n\n是哪位客户的事？点一下："]
    assert reply.last.labels == ["李小姐 · 新客户", "王先生 · 新客户"]  # most recent first
    reply = await chat.press("李小姐 · 新客户")
    assert reply.edited[0].text.startswith("💡 我读到的是：\n👤 李小姐 · 新客户\n🕒 11月26日 周四 10:00")
    await chat.press("📅 11月26日 周四 10:00 跟进")
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.note) == (await client_id(harness, "李小姐"), "提醒我")


async def test_a_time_without_any_client_registered_says_how_to_register(harness: Harness) -> None:
    chat = await agent(harness)
    reply = await chat.send("明天提醒我")
    assert reply.texts[0].startswith("💡 你还没有登记客户。")
    assert await harness.waiting() is None


async def test_a_name_that_is_no_client_yet_can_be_registered_and_followed_up(harness: Harness) -> None:
    chat = await agent(harness, "李小姐")
    reply = await chat.send("王先生 明天下午3点")
    assert reply.texts == ["💡 “王先生 明天下午3点”\n你还没有叫 王先生 的客户。现在登记吗？"]
    assert reply.last.labels == ["➕ 登记 王先生"]
    register = reply.last.data_for("➕ 登记 王先生")
    async with harness.services.sessions() as session:
        assert len(list((await session.execute(select(Client))).scalars())) == 1
    reply = await chat.press("➕ 登记 王先生")
    registered = "✅ 已登记客户 王先生。\n\n💡 我读到的是：\n👤 王先生 · 新客户\n🕒 11月26日 周四 15:00"
    assert reply.edited[0].text.startswith(registered)
    await chat.press("📅 11月26日 周四 15:00 跟进")
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert saved.client_id == await client_id(harness, "王先生")
    assert (await chat.press_data(register)).toast == STALE  # registered once


# ---------------------------------------------------------------------------------------------- which one


async def test_two_clients_of_the_same_name_are_told_apart(harness: Harness) -> None:
    chat = await agent(harness, ("王先生", "+8613800138000"), ("王先生", "+8613900139000"))
    reply = await chat.send("王先生 明天下午3点 带看")
    assert reply.texts == ["💡 “王先生 明天下午3点 带看”\n这里说到的客户不止一位，是哪一位？"]
    assert reply.last.labels == ["王先生 · 新客户 · +86 139 0013 9000", "王先生 · 新客户 · +86 138 0013 8000"]
    await chat.press("王先生 · 新客户 · +86 138 0013 8000")
    await chat.press("📅 11月26日 周四 15:00 跟进")
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.note) == (await client_id(harness, "王先生"), "带看")


async def test_two_names_in_one_message_ask_which(harness: Harness) -> None:
    chat = await agent(harness, "王先生", "李小姐", "赵总")
    reply = await chat.send("王先生和李小姐 明天")
    assert reply.last.labels == ["王先生 · 新客户", "李小姐 · 新客户"]  # in the order named


# ---------------------------------------------------------------------------------------------- nothing to act on


@pytest.mark.parametrize("text", ["asdfgh", "😊", "3", "？？？", "好的", "x" * 2000, "明天" * 600])
async def test_anything_else_gets_what_the_bot_can_do_with_two_examples(harness: Harness, text: str) -> None:
    chat = await agent(harness, "王先生")
    reply = await chat.send(text)
    [shown] = reply.texts
    assert shown.startswith(HELP)
    assert "• 王先生 明天下午3点 回电话\n  → 11月26日 周四 15:00 提醒你跟进" in shown
    assert "• 刚给王先生打了电话，想看学区房" in shown
    assert await harness.waiting() is None


@pytest.mark.parametrize("language_code", ["zh-hans", "en", "zh-hant"])
async def test_the_examples_are_computed_and_work_when_typed(harness: Harness, language_code: str) -> None:
    """At the end of a month (Mon 30 Nov 23:30 local) the example is tomorrow, 1 December; typed back, each
    example is offered, not answered with the examples again."""
    harness.clock.set(datetime(2026, 11, 30, 15, 30, tzinfo=UTC))
    chat = await agent(harness, language_code=language_code)
    reply = await chat.send("？")
    [shown] = reply.texts
    examples = [line[2:] for line in shown.splitlines() if line.startswith("• ")]
    assert len(examples) == 2
    assert any(day in shown for day in ("12月1日 周二 15:00", "12月1日 週二 15:00", "Tue 1 Dec, 15:00"))
    await chat.send(f"/client {'Mr Smith' if language_code == 'en' else '王先生'}")
    for example in examples:
        reply = await chat.send(example)
        assert reply.texts[0].startswith("💡"), example
        assert reply.last.labels, example


# ---------------------------------------------------------------------------------------------- two agents


async def test_one_agents_clients_never_match_for_another(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    wang = await agent(harness, "王先生")
    bea = await agent(harness, "Lee", user_id=2002, language_code="en")
    reply = await bea.send("王先生 明天下午3点 回电话")
    assert "👤" not in reply.texts[0] and reply.last.labels == ["➕ Register 王先生"]
    reply = await wang.send("Lee tomorrow 3pm")
    assert reply.last.labels == ["王先生 · 新客户"]  # which client? only Wang's own

    # Bea's own offer, with Wang's client id put in: refused, nothing changes.
    offer = await bea.send("Lee tomorrow 3pm")
    data = offer.last.data_for("📅 Follow up Thu 26 Nov, 15:00")
    forged = data.replace(f":{await client_id(harness, 'Lee', 2002)}:", f":{await client_id(harness, '王先生')}:")
    before = await snapshot(harness)
    with caplog.at_level(logging.INFO):
        for data in (forged, "ft:fu:1:1", "ft:log:0:0:call", "ft:new:0:99999999", "ft:pick:²:1", "ft:fu"):
            reply = await bea.press_data(data, on=offer.last)
            assert reply.toast == STALE_EN, data
            assert (reply.sent, reply.edited) == ([], []), data
    assert errors(caplog) == []
    assert await snapshot(harness) == before


async def test_a_button_of_an_earlier_message_is_stale(harness: Harness) -> None:
    chat = await agent(harness, "王先生")
    first = await chat.send("王先生 明天下午3点 回电话")
    await chat.send("王先生 后天 带看")
    assert (await chat.press("📝 记录：📞 电话", on=first.last)).toast == STALE
    assert await contacts(harness) == []


async def test_the_message_waits_whole_in_the_database_for_the_press(harness: Harness) -> None:
    """Kept in the conversation state, not in memory: a restart between the message and the press loses nothing."""
    chat = await agent(harness, "王先生")
    text = "王先生 明天下午3点 回电话，" + "他说预算还能加一点" * 20
    await chat.send(text)
    waiting = await harness.waiting()
    assert waiting is not None and waiting.data["text"] == text
    await harness.restart()
    assert (await harness.waiting()) == waiting


# ---------------------------------------------------------------------------------------------- any text


async def test_any_text_never_raises_and_changes_nothing(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    chat = await agent(harness, "王先生", ("Mr Smith", "+8613900139000"), "李姐")
    before = await snapshot(harness)
    typed: list[str] = []
    pieces = st.sampled_from(["王先生", "Smith", "李姐", "明天下午3点", "tomorrow", "打了电话", "提醒", "😊", "3", " "])

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(max_size=60) | st.lists(pieces | st.text(max_size=5), max_size=8).map("".join))
    def draw(text: str) -> None:
        typed.append(text)

    draw()
    with caplog.at_level(logging.INFO):
        for text in typed:
            if not text.strip() or text.startswith("/"):
                continue  # Telegram sends no empty message, and a command is a command
            reply = await chat.send(text)
            assert reply.texts, text
    assert errors(caplog) == []
    after = await snapshot(harness)
    after.pop("conversation_states")
    before.pop("conversation_states")
    assert after == before
