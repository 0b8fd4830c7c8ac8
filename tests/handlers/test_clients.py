"""Clients as an agent meets them: registering (one line or step by step), the list, the card and its buttons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import Client, ContactLog, FollowUp
from bot.statuses import CONTACT_KINDS
from runtime.local_api import LocalChat
from tests.conftest import START
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

STALE = "这个按钮已经过期了，请用最新的消息操作。"
CARD_BUTTONS = ["📞 记录联系", "🔀 阶段", "📅 跟进", "✏️ 编辑", "🗄 归档", "📋 客户列表"]


async def clients_of(harness: Harness, user_id: int = 1001) -> list[Client]:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session:
        result = await session.execute(select(Client).where(Client.agent_id == agent.id).order_by(Client.id))
        return list(result.scalars())


async def contacts_of(harness: Harness, client_id: int) -> list[ContactLog]:
    async with harness.services.sessions() as session:
        result = await session.execute(
            select(ContactLog).where(ContactLog.client_id == client_id, ContactLog.kind.in_(CONTACT_KINDS))
        )
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
        "最近动态\n还没有联系记录",
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
    assert reply.texts[0].startswith("🤔 这句话里我没认出客户或时间")
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
                    done_at=START + timedelta(days=days, hours=1) if status == "done" else None,
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
    # Hong Kong time; the history newest first, then every open follow-up (the done one is in the history).
    assert (
        "最近动态\n"
        "• 11月26日 周四 10:00 ✅ 跟进完成\n"
        "• 11月25日 周三 08:00 📞 电话：约了周六\n"
        "• 11月25日 周三 07:00 💬 微信\n"
        "• 11月25日 周三 06:00 🏠 带看：看了两套\n"
        "• 11月25日 周三 05:00 🤝 到访/面谈\n"
        "\n"
        "📅 待跟进（2 个）\n"
        "• 11月27日 周五 10:00 · 带看新房\n"
        "• 11月30日 周一 10:00"
    ) in card.text
    assert card.labels == CARD_BUTTONS
    reply = await chat.press("📋 客户列表")
    assert reply.edited[0].text.startswith("📋 我的客户（共 1 位）")


async def test_a_card_with_long_texts_still_fits_in_one_message(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 " + "需" * 1000 + " 备注:" + "备" * 1000)  # both at their limit
    [client] = await clients_of(harness)
    for _ in range(3):
        await chat.press("📞 记录联系", on=chat.last_with_buttons())
        await chat.press("📞 电话")
        await chat.send("聊" * 1000)
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
    assert reply.edited[0].labels == ["📞 电话", "💬 微信", "🤝 到访/面谈", "🏠 带看", "⬅️ 返回客户卡片"]
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
    assert card.labels == [
        "📞 Log contact",
        "🔀 Stage",
        "📅 Follow-up",
        "✏️ Edit",
        "🗄 Archive",
        "📋 All clients",
    ]


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
        "cl:edit:{id}:-",
        "cl:field:{id}:phone",
        "cl:field:{id}:name:all:0",
        "cl:clear:{id}:notes",
        "cl:keep:{id}:phone",
        "cl:card:{id}:edit:interested:1",
        "cl:stage:{id}:-:all:3",
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
        "cl:card:²:edit",
        "cl:list:all:²",
        "cl:list:all:0:x:y",
        "cl:card:1:edit:bogus:0",
        "cl:card:1:edit:all:x",
        "cl:card:1:edit:all:-1",
        "cl:card:1:edit:all:1234567",
        "cl:card:1:edit:all",
        "cl:card:1:edit:all:0:9",
        "cl:edit:1:-:all:²",
        "cl:field:1:stage",
        "cl:field:1:-",
        "cl:field:1:agent_id",
        "cl:clear:1:name",
        "cl:clear:1:notes",
        "cl:keep:1:phone",
    ],
)
async def test_garbage_buttons_are_refused(harness: Harness, data: str) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    reply = await chat.press_data(data)
    assert reply.toast == STALE and reply.sent == [] and reply.edited == []
    [client] = await clients_of(harness)
    assert (client.stage, client.archived) == ("new", False)


# -- editing details -------------------------------------------------------------------------------------

FULL_CLIENT = "/client 王先生 13800138000 三居 预算300万 来源:朋友介绍 备注:喜欢高楼层"
REGISTERED = {
    "name": "王先生",
    "phone": "+8613800138000",
    "needs": "三居",
    "budget": "300万",
    "source": "朋友介绍",
    "notes": "喜欢高楼层",
}
EDIT_MENU = ["👤 名字", "📞 电话", "🏠 需求", "💰 预算", "📍 来源", "📝 备注", "⬅️ 返回客户卡片"]


def details_of(client: Client) -> dict[str, str | None]:
    return {detail: getattr(client, detail) for detail in REGISTERED}


async def editing(harness: Harness, chat: LocalChat, label: str) -> None:
    """Open the edit menu on the newest card and pick a detail."""
    await chat.press("✏️ 编辑", on=chat.last_with_buttons())
    await chat.press(label)


@pytest.mark.parametrize(
    ("label", "detail", "field", "current", "typed", "stored", "card_line"),
    [
        ("👤 名字", "name", "名字", "王先生", "王大文 先生", "王大文 先生", "👤 王大文 先生 · 新客户"),
        ("📞 电话", "phone", "电话", "+86 138 0013 8000", "5123 4567", "+85251234567", "📞 电话：+852 5123 4567"),
        ("🏠 需求", "needs", "需求", "三居", "两房 南向\n近地铁", "两房 南向\n近地铁", "🏠 需求：两房 南向\n近地铁"),
        ("💰 预算", "budget", "预算", "300万", "预算 400-450万", "400-450万", "💰 预算：400-450万"),
        ("📍 来源", "source", "来源", "朋友介绍", "门店上门", "门店上门", "📍 来源：门店上门"),
        ("📝 备注", "notes", "备注", "喜欢高楼层", "周末才有空 <急>", "周末才有空 <急>", "📝 备注：周末才有空 <急>"),
    ],
)
async def test_edit_a_detail_by_typing_the_new_value(
    harness: Harness, label: str, detail: str, field: str, current: str, typed: str, stored: str, card_line: str
) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    harness.clock.advance(timedelta(minutes=5))

    reply = await chat.press("✏️ 编辑")
    menu = reply.edited[0]
    assert menu.text.startswith("✏️ 要改 王先生 的哪一项？")
    assert menu.labels == EDIT_MENU

    reply = await chat.press(label)
    question = reply.edited[0]
    assert question.text.startswith(f"✏️ 修改 王先生 · {field}\n现在是：{current}\n\n直接发新的")
    clearable = detail != "name"
    assert question.labels == (["🧹 清空", "✖️ 取消"] if clearable else ["✖️ 取消"])
    assert question.text.endswith("想删掉就点“清空”，不改了就点“取消”。" if clearable else "不改了就点“取消”。")
    waiting = await harness.waiting()
    assert waiting is not None and (waiting.flow, waiting.step) == ("clients", "edit")
    assert details_of((await clients_of(harness))[0]) == REGISTERED  # choosing a detail changes nothing yet

    reply = await chat.send(typed)
    [card] = reply.sent
    assert card.text.startswith(f"✅ {field}已更新。\n\n👤 ")
    assert card_line in card.text and card.labels == CARD_BUTTONS
    [client] = await clients_of(harness)
    assert details_of(client) == {**REGISTERED, detail: stored}
    assert client.updated_at == START + timedelta(minutes=5)
    assert await harness.waiting() is None
    assert (await chat.press("✖️ 取消")).toast == STALE  # the question is answered: its buttons are spent


@pytest.mark.parametrize(
    ("label", "typed", "refusal", "detail", "good", "stored"),
    [
        (
            "📞 电话",
            "12345",
            "🤔 “12345”好像不是一个有效的电话号码，电话没有改。",
            "phone",
            "5123 4567",
            "+85251234567",
        ),
        ("📞 电话", "+86 5123 4567", "🤔 “+86 5123 4567”好像不是", "phone", "+852 5123 4567", "+85251234567"),
        ("💰 预算", "看情况再说", "🤔 “看情况再说”我没看出是多少预算，预算没有改。", "budget", "450万", "450万"),
        ("👤 名字", "   ", "🤔 没收到内容，名字没有改。再发一次吧。", "name", "王大文", "王大文"),
        ("👤 名字", "王" * 65, "✂️ 有点长了：名字最多 64 个字，这次没有改。", "name", "王" * 64, "王" * 64),
        ("📝 备注", "备" * 1001, "✂️ 有点长了：备注最多 1000 个字，这次没有改。", "notes", "急", "急"),
    ],
)
async def test_a_refused_value_changes_nothing_and_the_question_stays_open(
    harness: Harness, label: str, typed: str, refusal: str, detail: str, good: str, stored: str
) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    [before] = await clients_of(harness)
    await editing(harness, chat, label)
    harness.clock.advance(timedelta(minutes=5))

    reply = await chat.send(typed)
    [text] = reply.texts
    assert text.startswith(refusal)
    if detail == "phone":  # the accepted forms, so the agent can fix it
        assert text.endswith("可以这样写：13800138000、010-12345678、5123 4567（香港）、+1 604 555 0199。")
    [after] = await clients_of(harness)
    assert details_of(after) == REGISTERED and after.updated_at == before.updated_at
    waiting = await harness.waiting()
    assert waiting is not None and (waiting.flow, waiting.step) == ("clients", "edit")

    reply = await chat.send(good)  # still waiting: the right value now is saved
    assert reply.last.text.startswith("✅ ") and reply.last.labels == CARD_BUTTONS
    [after] = await clients_of(harness)
    assert details_of(after) == {**REGISTERED, detail: stored}


async def test_a_phone_already_on_another_client_is_refused(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    await chat.send("/client 李太 5123 4567")
    await editing(harness, chat, "📞 电话")  # on 李太's card, the newest

    reply = await chat.send("138 0013 8000")
    [refusal] = reply.sent
    assert refusal.text == "📇 这个号码已经登记在 王先生 名下了，电话没有改。换一个号码，或者点“取消”。"
    assert refusal.labels == ["👤 打开 王先生"]
    wang, li = await clients_of(harness)
    assert (wang.phone, li.phone) == ("+8613800138000", "+85251234567")
    reply = await chat.press("👤 打开 王先生")
    assert reply.last.text.startswith("👤 王先生 · 新客户")

    reply = await chat.send("+852 5123 4567")  # the question is still open; its own number is no duplicate
    assert reply.last.text.startswith("✅ 电话已更新。\n\n👤 李太 · 新客户")
    reply = await chat.send("/client 赵先生")
    await editing(harness, chat, "📞 电话")
    reply = await chat.send("9123 4567")
    assert reply.last.text.startswith("✅ 电话已更新。\n\n👤 赵先生") and "📞 电话：+852 9123 4567" in reply.last.text
    assert [c.phone for c in await clients_of(harness)] == ["+8613800138000", "+85251234567", "+85291234567"]


async def test_clear_an_optional_detail(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    [client] = await clients_of(harness)
    await editing(harness, chat, "📝 备注")

    reply = await chat.press("🧹 清空")
    card = reply.edited[0]
    assert card.text.startswith("🧹 备注已清空。\n\n👤 王先生 · 新客户")
    assert "📝" not in card.text and "📍 来源：朋友介绍" in card.text and card.labels == CARD_BUTTONS
    [client] = await clients_of(harness)
    assert details_of(client) == {**REGISTERED, "notes": None}
    assert await harness.waiting() is None
    assert (await chat.press_data(f"cl:clear:{client.id}:notes")).toast == STALE  # once only

    await editing(harness, chat, "📞 电话")
    reply = await chat.press("🧹 清空")
    assert "📞 电话：未填写" in reply.edited[0].text
    await editing(harness, chat, "📞 电话")  # nothing left to clear: only Cancel
    reply = await chat.press("✖️ 取消")
    assert reply.edited[0].text.startswith("好的，没有改动。")
    await chat.press("✏️ 编辑")
    question = (await chat.press("📞 电话")).edited[0]
    assert "现在是：未填写" in question.text and question.labels == ["✖️ 取消"]
    assert question.text.endswith("不改了就点“取消”。")
    [client] = await clients_of(harness)
    assert details_of(client) == {**REGISTERED, "notes": None, "phone": None}


async def test_cancel_button_and_back_change_nothing(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    [before] = await clients_of(harness)
    harness.clock.advance(timedelta(minutes=5))
    await editing(harness, chat, "💰 预算")
    reply = await chat.press("✖️ 取消")
    assert reply.edited[0].text.startswith("好的，没有改动。\n\n👤 王先生 · 新客户")
    assert reply.edited[0].labels == CARD_BUTTONS
    assert await harness.waiting() is None
    reply = await chat.send("500万")
    assert reply.texts[0].startswith("🤔 这句话里我没认出客户或时间")

    await chat.press("✏️ 编辑")
    reply = await chat.press("⬅️ 返回客户卡片")
    assert reply.edited[0].text.startswith("👤 王先生 · 新客户") and reply.edited[0].labels == CARD_BUTTONS
    [after] = await clients_of(harness)
    assert details_of(after) == REGISTERED and after.updated_at == before.updated_at


async def test_cancel_command_mid_edit_changes_nothing(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    [before] = await clients_of(harness)
    await editing(harness, chat, "📞 电话")
    assert (await chat.send("/cancel")).texts == ["好的，已取消。"]
    assert await harness.waiting() is None
    reply = await chat.send("5123 4567")
    assert reply.texts[0].startswith("🤔 这句话里我没认出客户或时间")
    assert (await chat.press("🧹 清空")).toast == STALE
    assert (await chat.press("✖️ 取消")).toast == STALE
    [after] = await clients_of(harness)
    assert details_of(after) == REGISTERED and after.updated_at == before.updated_at


async def test_restart_mid_edit_takes_the_answer(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    await editing(harness, chat, "💰 预算")
    await harness.restart()  # the process dies and comes back: only the database remains
    chat = harness.chat()

    reply = await chat.send("500万")
    [card] = reply.sent
    assert card.text.startswith("✅ 预算已更新。\n\n👤 王先生 · 新客户") and "💰 预算：500万" in card.text
    assert card.labels == CARD_BUTTONS
    [client] = await clients_of(harness)
    assert details_of(client) == {**REGISTERED, "budget": "500万"}
    assert await harness.waiting() is None


async def test_a_client_archived_mid_edit_is_left_alone(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    await editing(harness, chat, "📞 电话")
    await chat.send("/clients")
    await chat.press("王先生 · 新客户")
    await chat.press("🗄 归档")
    await chat.press("🗄 确认归档")
    reply = await chat.send("5123 4567")
    assert reply.texts == ["这位客户已经不在你的客户列表里了（可能已归档），这一步先结束。发 /clients 看看其他客户。"]
    [client] = await clients_of(harness)
    assert client.archived and client.phone == "+8613800138000"
    assert await harness.waiting() is None


async def test_another_agent_cannot_clear_or_edit_a_detail_mid_edit(harness: Harness) -> None:
    owner = await ready(harness)
    await owner.send(FULL_CLIENT)
    await editing(harness, owner, "📝 备注")
    [client] = await clients_of(harness)
    intruder = await ready(harness, user_id=2002)
    for data in (f"cl:clear:{client.id}:notes", f"cl:keep:{client.id}:notes", f"cl:field:{client.id}:notes"):
        reply = await intruder.press_data(data)
        assert reply.toast == STALE and reply.sent == [] and reply.edited == []
    assert await harness.waiting(2002) is None
    reply = await intruder.send("周末才有空")
    assert reply.texts[0].startswith("💡 你还没有登记客户")  # a time, but no client of the intruder's own
    [after] = await clients_of(harness)
    assert details_of(after) == REGISTERED
    reply = await owner.send("周末才有空")  # the owner's question is still open
    assert reply.last.text.startswith("✅ 备注已更新。")


async def test_edit_in_english(harness: Harness) -> None:
    chat = await ready(harness, user_id=2002, language_code="en")
    await chat.send("/client Mr Chan +852 5123 4567 budget 8M")
    reply = await chat.press("✏️ Edit")
    assert reply.edited[0].text.startswith("✏️ What would you like to change for Mr Chan?")
    assert reply.edited[0].labels == [
        "👤 Name",
        "📞 Phone",
        "🏠 Needs",
        "💰 Budget",
        "📍 Source",
        "📝 Notes",
        "⬅️ Back to the card",
    ]
    reply = await chat.press("💰 Budget")
    assert reply.edited[0].text.startswith("✏️ Editing Mr Chan · Budget\nNow: 8M\n\nType the new budget")
    assert reply.edited[0].labels == ["🧹 Clear", "✖️ Cancel"]
    reply = await chat.send("whatever")
    assert reply.texts[0].startswith("🤔 I couldn't read “whatever” as a budget, so it wasn't changed.")
    reply = await chat.send("12345")
    assert reply.texts[0].startswith("🤔 I couldn't read “12345” as a budget")
    reply = await chat.send("9.5M")
    assert reply.last.text.startswith("✅ Budget updated.\n\n👤 Mr Chan · New") and "💰 Budget: 9.5M" in reply.last.text
    await chat.press("✏️ Edit")
    await chat.press("📞 Phone")
    reply = await chat.send("555")
    assert reply.texts[0].startswith("🤔 “555” doesn't look like a valid phone number, so the phone wasn't changed.")
    assert "5123 4567 (Hong Kong)" in reply.texts[0]


# -- back to the list ------------------------------------------------------------------------------------


async def test_back_to_the_list_returns_to_the_page_and_stage_the_card_came_from(harness: Harness) -> None:
    chat = await ready(harness)
    for number in range(1, 14):
        harness.clock.advance(timedelta(minutes=1))
        await chat.send(f"/client 客户{number:02d}")
    async with harness.services.sessions() as session, session.begin():
        for client in (await session.execute(select(Client))).scalars():
            if client.name <= "客户10":
                client.stage = "interested"

    await chat.send("/clients")
    await chat.press("意向 10")
    page_two = (await chat.press("▶")).edited[0]
    assert "正在看：意向 · 第 2/2 页" in page_two.text
    assert [label for label in page_two.labels if label.startswith("客户")] == ["客户02 · 意向", "客户01 · 意向"]

    card = (await chat.press("客户02 · 意向")).edited[0]
    assert card.text.startswith("👤 客户02 · 意向")
    assert card.data_for("📋 客户列表") == "cl:list:interested:1"
    reply = await chat.press("📋 客户列表")
    assert "正在看：意向 · 第 2/2 页" in reply.edited[0].text

    # Through the card's menus and back, the way home is kept.
    for menu in ("📞 记录联系", "🔀 阶段", "🗄 归档", "✏️ 编辑"):
        await chat.press("客户02 · 意向")
        await chat.press(menu)
        await chat.press("⬅️ 返回客户卡片")
        reply = await chat.press("📋 客户列表")
        assert "正在看：意向 · 第 2/2 页" in reply.edited[0].text, menu

    # After an edit typed as a new message, too.
    await chat.press("客户01 · 意向")
    await chat.press("✏️ 编辑")
    await chat.press("🏠 需求")
    card = (await chat.send("两房")).last
    reply = await chat.press("📋 客户列表", on=card)
    assert "正在看：意向 · 第 2/2 页" in reply.edited[0].text

    # After a stage change the card still goes back where it came from.
    await chat.press("客户02 · 意向")
    await chat.press("🔀 阶段")
    card = (await chat.press("成交")).edited[0]
    assert card.text.startswith("✅ 阶段已更新：意向 → 成交")
    reply = await chat.press("📋 客户列表", on=card)
    listing = reply.edited[0]
    assert "正在看：意向 · 第 2/2 页" in listing.text  # 9 left at 意向, and it shows the page that still exists
    await chat.press("客户03 · 意向", on=listing)
    await chat.press("🗄 归档")
    archived = (await chat.press("🗄 确认归档")).edited[0]
    reply = await chat.press("📋 客户列表", on=archived)
    assert "正在看：意向 · 第 1/1 页" in reply.edited[0].text  # 8 left: page 2 is gone, the last page shows

    # A card opened from a search or a follow-up nudge goes to the first page of the whole list.
    reply = await chat.send("/clients 客户12")
    card = (await chat.press("客户12 · 新客户", on=reply.last)).last
    assert card.data_for("📋 客户列表") == "cl:list:all:0"
    reply = await chat.press("📋 客户列表", on=card)
    assert "正在看：全部 · 第 1/2 页" in reply.edited[0].text
    twelve = next(c for c in await clients_of(harness) if c.name == "客户12")
    reply = await chat.press_data(f"cl:card:{twelve.id}")
    assert reply.last.data_for("📋 客户列表") == "cl:list:all:0"


async def test_every_button_of_the_largest_card_fits_in_telegrams_64_bytes(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send(FULL_CLIENT)
    [client] = await clients_of(harness)
    async with harness.services.sessions() as session, session.begin():
        stored = await session.get(Client, client.id)
        assert stored is not None
        stored.stage = "interested"
    data = f"cl:card:{client.id}:edit:interested:999999"
    seen: list[str] = []
    for press in (data, f"cl:stage:{client.id}:-:interested:999999", f"cl:edit:{client.id}:-:interested:999999"):
        reply = await chat.press_data(press)
        assert reply.toast is None, press
        seen += [d for row in reply.last.buttons for _, d in row]
    assert "cl:setstage:1:interested:interested:999999" in seen
    assert all(len(d.encode()) <= 64 for d in seen)
