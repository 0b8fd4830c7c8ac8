"""Clients as an agent meets them: registering (one line or step by step), the list, the card and its buttons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import Client, ContactLog, FollowUp
from handlers.local_api import LocalChat
from tests.conftest import START
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

STALE = "这个按钮已经过期了，请用最新的消息操作。"
CARD_BUTTONS = ["📞 记录联系", "🔀 阶段", "📅 跟进", "🗄 归档", "📋 客户列表"]


async def clients_of(harness: Harness, user_id: int = 1001) -> list[Client]:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session:
        result = await session.execute(select(Client).where(Client.agent_id == agent.id).order_by(Client.id))
        return list(result.scalars())


async def contacts_of(harness: Harness, client_id: int) -> list[ContactLog]:
    async with harness.services.sessions() as session:
        result = await session.execute(select(ContactLog).where(ContactLog.client_id == client_id))
        return list(result.scalars())


async def ready(harness: Harness, user_id: int = 1001, language_code: str = "zh-hans") -> LocalChat:
    """An onboarded agent (time zone Hong Kong)."""
    chat = harness.chat(user_id=user_id, language_code=language_code)
    await onboard(chat, language="English" if language_code == "en" else "简体中文")
    return chat


async def test_one_line_registers_the_client_and_shows_the_card(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/client 王先生 13800138000 三居 预算300万")
    [card] = reply.sent
    assert card.text.startswith("✅ 登记好了！")
    for line in (
        "👤 王先生 · 新客户",
        "📞 电话：+86 138 0013 8000",
        "🏠 需求：三居",
        "💰 预算：300万",
        "最近联系\n还没有联系记录",
        "📅 还没有安排下次跟进",
    ):
        assert line in card.text
    assert card.labels == CARD_BUTTONS
    [client] = await clients_of(harness)
    assert (client.name, client.phone, client.needs, client.budget, client.stage) == (
        "王先生",
        "+8613800138000",
        "三居",
        "300万",
        "new",
    )
    assert card.data_for("📅 跟进") == f"fu:new:{client.id}"
    assert await harness.waiting() is None


async def test_a_bad_phone_gets_a_friendly_reply_and_nothing_is_saved(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/client 王先生 12345678901 三居")
    [text] = reply.texts
    assert text.startswith("🤔 “12345678901”好像不是一个有效的电话号码，这次先没有保存。")
    assert "/client 王先生 13800138000 三居 预算300万" in text
    assert await clients_of(harness) == []


async def test_a_line_without_a_name_shows_the_form(harness: Harness) -> None:
    chat = await ready(harness)
    [text] = (await chat.send("/client 13800138000 预算300万")).texts
    assert text.startswith("🤔 没看到客户的名字")
    assert await clients_of(harness) == []


async def test_the_same_number_is_not_registered_twice(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    reply = await chat.send("/client 王生 138 0013 8000 两房")
    assert reply.last.text.startswith("📇 这个号码已经登记在 王先生 名下了")
    assert reply.last.labels == ["👤 打开 王先生"]
    assert [c.name for c in await clients_of(harness)] == ["王先生"]
    reply = await chat.press("👤 打开 王先生")
    assert reply.last.text.startswith("👤 王先生 · 新客户") and reply.last.labels == CARD_BUTTONS


async def test_guided_add_with_skips(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/client")
    assert reply.texts[0].startswith("👤 新客户怎么称呼？")
    assert reply.last.labels == []

    reply = await chat.send("李太")
    saved, question = reply.sent
    assert saved.text.startswith("✓ 已登记 李太。")
    assert question.text.startswith("📞 李太 的电话是多少？") and question.labels == ["⏭ 跳过"]
    [client] = await clients_of(harness)
    assert client.name == "李太" and client.phone is None

    reply = await chat.send("12345")
    assert reply.texts[0].startswith("🤔 “12345”好像不是一个有效的电话号码，再核对一下？")
    waiting = await harness.waiting()
    assert waiting is not None and (waiting.flow, waiting.step) == ("clients", "phone")

    reply = await chat.press("⏭ 跳过")
    assert reply.edited[0].text == "⏭ 电话：先跳过"
    assert reply.sent[0].text.startswith("🏠 李太 想要什么样的房子？")

    reply = await chat.send("学区房 两房 南向")
    assert reply.sent[0].text.startswith("💰 李太 的预算大概多少？")
    reply = await chat.press("⏭ 跳过")
    assert reply.edited[0].text == "⏭ 预算：先跳过"
    card = reply.sent[0]
    assert card.text.startswith("✅ 登记好了！")
    assert "📞 电话：未填写" in card.text and "🏠 需求：学区房 两房 南向" in card.text
    assert "💰 预算：未填写" in card.text and card.labels == CARD_BUTTONS

    [client] = await clients_of(harness)
    assert (client.phone, client.needs, client.budget) == (None, "学区房 两房 南向", None)
    assert await harness.waiting() is None
    # A Skip button of the finished flow is spent now.
    assert (await chat.press_data(f"cl:skip:{client.id}:phone")).toast == STALE


async def test_guided_add_takes_a_whole_line_at_the_name_question(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client")
    reply = await chat.send("张姐 5123 4567 三房")
    assert reply.texts[0].startswith("✓ 已登记 张姐。")
    assert reply.last.text.startswith("💰 张姐 的预算大概多少？")  # phone and needs are answered already
    reply = await chat.send("800-900万")
    assert reply.last.text.startswith("✅ 登记好了！") and "💰 预算：800-900万" in reply.last.text
    [client] = await clients_of(harness)
    assert (client.phone, client.needs, client.budget) == ("+85251234567", "三房", "800-900万")


async def test_cancel_mid_flow_keeps_what_was_entered(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client")
    await chat.send("赵先生")
    reply = await chat.send("+86 138 0013 8000")
    assert reply.texts[0].startswith("🏠 赵先生 想要什么样的房子？")
    assert (await chat.send("/cancel")).texts == ["好的，已取消。"]
    assert await harness.waiting() is None
    [client] = await clients_of(harness)
    assert (client.name, client.phone, client.needs) == ("赵先生", "+8613800138000", None)
    reply = await chat.send("两房")
    assert reply.texts[0].startswith("收到！目前我还不能理解自由输入的消息")
    assert (await chat.press("⏭ 跳过")).toast == STALE


async def test_cancel_before_the_name_saves_nothing(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client")
    await chat.send("/cancel")
    assert await clients_of(harness) == []


async def test_list_with_counts_paging_and_stage_filters(harness: Harness) -> None:
    chat = await ready(harness)
    assert (await chat.send("/clients")).texts[0].startswith("📋 你还没有登记客户。")
    for number in range(1, 14):
        harness.clock.advance(timedelta(minutes=1))
        await chat.send(f"/client 客户{number:02d}")
    async with harness.services.sessions() as session, session.begin():
        for client in (await session.execute(select(Client))).scalars():
            if client.name in ("客户01", "客户02"):
                client.stage = "interested"
            if client.name == "客户03":
                client.stage = "closed"

    reply = await chat.send("/clients")
    listing = reply.last
    assert listing.text.startswith("📋 我的客户（共 13 位）")
    assert "新客户 10 · 意向 2 · 带看 0 · 下定 0 · 成交 1 · 流失 0" in listing.text
    assert "正在看：全部 · 第 1/2 页" in listing.text
    names = [label for label in listing.labels if label.startswith("客户")]
    assert names == [f"客户{n:02d} · 新客户" for n in range(13, 5, -1)]  # newest first, 8 a page
    assert "◀" not in listing.labels and "▶" in listing.labels
    assert listing.labels[-7:] == ["✓ 全部 13", "新客户 10", "意向 2", "带看 0", "下定 0", "成交 1", "流失 0"]

    reply = await chat.press("▶")
    page_two = reply.edited[0]
    assert "第 2/2 页" in page_two.text
    assert [label for label in page_two.labels if label.startswith("客户")] == [
        "客户05 · 新客户",
        "客户04 · 新客户",
        "客户03 · 成交",
        "客户02 · 意向",
        "客户01 · 意向",
    ]
    assert "◀" in page_two.labels and "▶" not in page_two.labels
    reply = await chat.press("◀")
    assert "第 1/2 页" in reply.edited[0].text

    reply = await chat.press("意向 2")
    filtered = reply.edited[0]
    assert "正在看：意向 · 第 1/1 页" in filtered.text
    assert [label for label in filtered.labels if label.startswith("客户")] == ["客户02 · 意向", "客户01 · 意向"]
    assert "✓ 意向 2" in filtered.labels
    reply = await chat.press("带看 0")
    assert "“带看”阶段暂时没有客户。" in reply.edited[0].text

    reply = await chat.send("/clients 成交")
    assert [label for label in reply.last.labels if label.startswith("客户")] == ["客户03 · 成交"]
    reply = await chat.send("/clients 客户1")
    assert reply.last.text.startswith("🔎 名字或电话里有“客户1”的客户（4 位）")
    reply = await chat.send("/clients 老李")
    assert reply.texts == ["🔎 没找到名字或电话里有“老李”的客户。发 /clients 看全部客户。"]


async def test_card_shows_details_contacts_and_the_next_follow_up(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000 三居 预算300万 来源:朋友介绍 备注:周末才有空 <急>")
    [client] = await clients_of(harness)
    async with harness.services.sessions() as session, session.begin():
        agent_id = client.agent_id
        for hours, kind, note in (
            (1, "call", "约了周六"),
            (2, "message", None),
            (3, "viewing", "看了两套"),
            (4, "visit", ""),
        ):
            session.add(
                ContactLog(client_id=client.id, kind=kind, note=note or None, at=START - timedelta(hours=hours))
            )
        for days, status, note in ((2, "open", "带看新房"), (1, "done", None), (5, "open", None)):
            session.add(
                FollowUp(
                    agent_id=agent_id,
                    client_id=client.id,
                    due_at=START + timedelta(days=days, hours=1),
                    note=note,
                    status=status,
                    created_at=START,
                    updated_at=START,
                )
            )

    reply = await chat.send("/clients")
    reply = await chat.press("王先生 · 新客户")
    card = reply.edited[0]
    assert card.text.startswith("👤 王先生 · 新客户")
    assert "📍 来源：朋友介绍" in card.text and "📝 备注：周末才有空 <急>" in card.text
    assert "&lt;急&gt;" in card.html
    # Hong Kong time; the three latest contacts, newest first.
    assert (
        "最近联系\n"
        "• 11月25日 周三 08:00 📞 电话：约了周六\n"
        "• 11月25日 周三 07:00 💬 消息\n"
        "• 11月25日 周三 06:00 🏠 带看：看了两套\n"
    ) in card.text
    assert "面谈" not in card.text
    assert "📅 下次跟进：11月27日 周五 10:00 · 带看新房" in card.text
    assert card.labels == CARD_BUTTONS
    reply = await chat.press("📋 客户列表")
    assert reply.edited[0].text.startswith("📋 我的客户（共 1 位）")


async def test_a_card_with_long_texts_still_fits_in_one_message(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 " + "需" * 2000 + " 备注:" + "备" * 2000)
    [client] = await clients_of(harness)
    for _ in range(3):
        await chat.press("📞 记录联系", on=chat.last_with_buttons())
        await chat.press("📞 电话")
        await chat.send("聊" * 3000)
        await chat.send("/clients")
        await chat.press("王先生 · 新客户")
    card = chat.messages()[-1]
    assert card.text.startswith("👤 王先生") and len(card.text) < 4096
    assert "需" * 499 + "…" in card.text and "聊" * 199 + "…" in card.text
    assert len(await contacts_of(harness, client.id)) == 3


async def test_log_a_contact_with_a_note(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    [client] = await clients_of(harness)
    reply = await chat.press("📞 记录联系")
    assert reply.edited[0].text == "📞 跟 王先生 是怎么联系的？"
    assert reply.edited[0].labels == ["📞 电话", "💬 消息", "🤝 面谈", "🏠 带看", "⬅️ 返回客户卡片"]
    reply = await chat.press("📞 电话")
    assert reply.edited[0].text.startswith("📞 电话 · 王先生\n这次聊了什么？")
    assert reply.edited[0].labels == ["⏭ 跳过"]

    reply = await chat.send("客户说周末想看房")
    assert reply.sent[0].text.startswith("✅ 已记录：📞 电话 · 王先生。")
    assert len(reply.sent) >= 2  # then the follow-ups module suggests the next follow-up
    [contact] = await contacts_of(harness, client.id)
    assert (contact.kind, contact.note, contact.at) == ("call", "客户说周末想看房", START)
    assert await harness.waiting() is None
    assert (await chat.press("⏭ 跳过")).toast == STALE  # the note is in: skipping now would log twice
    assert len(await contacts_of(harness, client.id)) == 1

    reply = await chat.send("/clients")
    reply = await chat.press("王先生 · 新客户")
    assert "• 11月25日 周三 09:00 📞 电话：客户说周末想看房" in reply.edited[0].text


async def test_log_a_viewing_without_a_note_moves_the_stage(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    [client] = await clients_of(harness)
    await chat.press("📞 记录联系")
    await chat.press("🏠 带看")
    reply = await chat.press("⏭ 跳过")
    assert reply.edited[0].text.startswith("✅ 已记录：🏠 带看 · 王先生，阶段更新为“带看”。")
    assert reply.sent  # the follow-up suggestion
    [contact] = await contacts_of(harness, client.id)
    assert (contact.kind, contact.note) == ("viewing", None)
    [client] = await clients_of(harness)
    assert client.stage == "viewing"


async def test_back_from_the_contact_kinds_returns_to_the_card(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    await chat.press("📞 记录联系")
    reply = await chat.press("⬅️ 返回客户卡片")
    assert reply.edited[0].text.startswith("👤 王先生 · 新客户") and reply.edited[0].labels == CARD_BUTTONS


async def test_change_stage(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    reply = await chat.press("🔀 阶段")
    assert reply.edited[0].text == "🔀 王先生 现在到哪个阶段了？"
    assert reply.edited[0].labels == ["✓ 新客户", "意向", "带看", "下定", "成交", "流失", "⬅️ 返回客户卡片"]
    reply = await chat.press("下定")
    card = reply.edited[0]
    assert card.text.startswith("✅ 阶段已更新：新客户 → 下定\n\n👤 王先生 · 下定")
    assert card.labels == CARD_BUTTONS
    [client] = await clients_of(harness)
    assert client.stage == "deposit"
    await chat.press("🔀 阶段")
    reply = await chat.press("下定")  # the same stage: just the card again
    assert reply.edited[0].text.startswith("👤 王先生 · 下定")


async def test_archive_asks_to_confirm(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    [client] = await clients_of(harness)
    card = chat.messages()[-1]
    reply = await chat.press("🗄 归档")
    assert reply.edited[0].text.startswith("🗄 确定要归档 王先生 吗？")
    assert reply.edited[0].labels == ["🗄 确认归档", "⬅️ 返回客户卡片"]
    reply = await chat.press("⬅️ 返回客户卡片")
    assert reply.edited[0].text.startswith("👤 王先生")
    assert not (await clients_of(harness))[0].archived

    await chat.press("🗄 归档")
    reply = await chat.press("🗄 确认归档")
    assert reply.edited[0].text.startswith("🗄 已归档 王先生。")
    assert (await clients_of(harness))[0].archived
    assert (await chat.send("/clients")).texts[0].startswith("📋 你还没有登记客户。")
    reply = await chat.press_data(f"cl:log:{client.id}:-", on=card)
    assert reply.toast == STALE and reply.sent == [] and reply.edited == []
    # An archived client's number may be registered again.
    assert (await chat.send("/client 王先生 13800138000")).last.text.startswith("✅ 登记好了！")


async def test_a_card_can_be_opened_from_another_module(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    [client] = await clients_of(harness)
    reply = await chat.press_data(f"cl:card:{client.id}")
    assert reply.edited == [] and reply.last.text.startswith("👤 王先生 · 新客户")


async def test_cards_in_english(harness: Harness) -> None:
    chat = await ready(harness, user_id=2002, language_code="en")
    reply = await chat.send("/client Mr Chan +852 5123 4567 2-bed Kowloon budget 8M")
    card = reply.last
    assert card.text.startswith("✅ Registered!")
    assert "👤 Mr Chan · New" in card.text and "📞 Phone: +852 5123 4567" in card.text
    assert "💰 Budget: 8M" in card.text
    assert card.labels == ["📞 Log contact", "🔀 Stage", "📅 Follow-up", "🗄 Archive", "📋 All clients"]


@pytest.mark.parametrize(
    "template",
    [
        "cl:card:{id}:edit",
        "cl:card:{id}:new",
        "cl:card:{id}",
        "cl:log:{id}:-",
        "cl:kind:{id}:call",
        "cl:nonote:{id}:call",
        "cl:skip:{id}:phone",
        "cl:stage:{id}:-",
        "cl:setstage:{id}:closed",
        "cl:archive:{id}:ask",
        "cl:archive:{id}:yes",
    ],
)
async def test_another_agents_client_is_refused_and_nothing_revealed(harness: Harness, template: str) -> None:
    owner = await ready(harness)
    await owner.send("/client 王先生 13800138000 三居")
    [client] = await clients_of(harness)
    intruder = await ready(harness, user_id=2002)
    await intruder.send("/clients")
    before = len(harness.api.calls)

    reply = await intruder.press_data(template.format(id=client.id))

    assert reply.toast == STALE and reply.sent == [] and reply.edited == []
    assert [call.method for call in harness.api.calls[before:]] == ["answerCallbackQuery"]
    [after] = await clients_of(harness)
    assert (after.stage, after.archived, after.updated_at) == (client.stage, client.archived, client.updated_at)
    assert await contacts_of(harness, client.id) == []
    assert await harness.waiting(2002) is None


@pytest.mark.parametrize(
    "data",
    [
        "cl",
        "cl:card",
        "cl:card:abc:edit",
        "cl:card:0:edit",
        "cl:card:99999999999999999999:edit",
        "cl:card:1:sideways",
        "cl:log:1",
        "cl:zzz:1:x",
        "cl:list:bogus:0",
        "cl:list:all:x",
        "cl:setstage:1:married",
        "cl:kind:1:telepathy",
        "cl:archive:1:maybe",
        "cl:skip:1:name",
    ],
)
async def test_garbage_buttons_are_refused(harness: Harness, data: str) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    reply = await chat.press_data(data)
    assert reply.toast == STALE and reply.sent == [] and reply.edited == []
    [client] = await clients_of(harness)
    assert (client.stage, client.archived) == ("new", False)
