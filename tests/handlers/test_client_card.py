"""The client card tells the whole story (issue 12 §2): the history, every open follow-up, the archive, and the
questions asked before a client is registered (a name already used, a name that reads like a sentence)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.models import Client, ContactLog, FollowUp
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.conftest import START
from tests.handlers.test_clients import STALE, clients_of, contacts_of, ready
from tests.support import Harness, hold_back_other_kinds

HOUR = timedelta(hours=1)


async def open_card(chat: LocalChat, label: str = "王先生") -> str:
    """The card as the agent opens it from /clients (pressing the client's button)."""
    reply = await chat.send("/clients")
    button = next(lb for lb in reply.last.labels if lb.startswith(label + " · "))
    return (await chat.press(button)).edited[0].text


async def follow_ups_of(harness: Harness) -> list[FollowUp]:
    async with harness.services.sessions() as session:
        return list((await session.execute(select(FollowUp).order_by(FollowUp.id))).scalars())


# -- 1. the history ------------------------------------------------------------------------------------


async def test_the_outcome_typed_after_done_is_in_the_card_history(harness: Harness) -> None:
    chat = await ready(harness)
    await hold_back_other_kinds(harness, "followup")
    await chat.send("/client 王先生 13800138000")
    await chat.send("/followup 王先生 明天下午3点 带看新房")
    await chat.press("✅ 确认")
    [follow_up] = await follow_ups_of(harness)
    harness.clock.set(follow_up.due_at)
    await engine_of(harness.app).sweep()
    await chat.press("✅ 完成")
    await chat.send("客户想再看一次学区房")

    card = await open_card(chat)
    # Due at 15:00 Hong Kong time on the 26th; done then.
    assert "• 11月26日 周四 15:00 ✅ 跟进完成（带看新房）：客户想再看一次学区房" in card
    assert "还没有联系记录" not in card


async def test_a_follow_up_done_without_an_outcome_is_in_the_history_too(harness: Harness) -> None:
    chat = await ready(harness, user_id=2002, language_code="en")
    await hold_back_other_kinds(harness, "followup")
    await chat.send("/client Mr Chan")
    await chat.send("/followup Chan tomorrow 3pm")
    await chat.press("✅ Confirm")
    [follow_up] = await follow_ups_of(harness)
    harness.clock.set(follow_up.due_at)
    await engine_of(harness.app).sweep()
    await chat.press("✅ Done")
    await chat.press("⏭ Skip")
    card = await open_card(chat, "Mr Chan")
    assert "✅ Follow-up done" in card


async def test_every_stage_move_is_in_the_history_newest_first(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    harness.clock.advance(HOUR)  # 10:00 in Hong Kong
    await chat.press("🔀 阶段")
    await chat.press("意向")
    harness.clock.advance(HOUR)  # 11:00: a viewing moves the client on to 带看 by itself
    await chat.press("📞 记录联系")
    await chat.press("🏠 带看")
    await chat.send("看了两套")
    card = await open_card(chat)
    assert (
        "• 11月25日 周三 11:00 🔀 阶段：意向 → 带看\n"
        "• 11月25日 周三 11:00 🏠 带看：看了两套\n"
        "• 11月25日 周三 10:00 🔀 阶段：新客户 → 意向"
    ) in card
    [client] = await clients_of(harness)
    contacts = await contacts_of(harness, client.id)
    assert sorted(c.kind for c in contacts if c.kind == "viewing") == ["viewing"]


async def test_the_nudge_still_names_the_last_contact_not_a_stage_move(harness: Harness) -> None:
    chat = await ready(harness)
    await hold_back_other_kinds(harness, "followup")
    await chat.send("/client 王先生")
    await chat.press("📞 记录联系")
    await chat.press("📞 电话")
    await chat.press("⏭ 跳过")
    harness.clock.advance(HOUR)
    await chat.send("/clients")
    await chat.press("王先生 · 新客户")
    await chat.press("🔀 阶段")
    await chat.press("意向")
    await chat.send("/followup 王先生 明天下午3点")
    await chat.press("✅ 确认")
    [follow_up] = await follow_ups_of(harness)
    harness.clock.set(follow_up.due_at)
    await engine_of(harness.app).sweep()
    assert "📞 电话" in chat.messages()[-1].text


async def seed_history(harness: Harness, client_id: int, count: int, note: str = "聊了聊") -> None:
    async with harness.services.sessions() as session, session.begin():
        for n in range(count):
            session.add(ContactLog(client_id=client_id, kind="call", note=f"{note}{n}", at=START - timedelta(hours=n)))


async def test_the_card_shows_the_latest_entries_and_history_pages_through_all(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    [client] = await clients_of(harness)
    await seed_history(harness, client.id, 12)
    card = await open_card(chat)
    assert "聊了聊0" in card and "聊了聊4" in card and "聊了聊5" not in card
    assert "还有 7 条更早的记录" in card
    reply = await chat.press("📜 全部记录")
    page = reply.edited[0]
    assert page.text.startswith("📜 王先生 的全部记录（共 12 条，新的在前）· 第 1/3 页")
    assert [n for n in range(12) if f"聊了聊{n}\n" in page.text + "\n"] == [0, 1, 2, 3]
    reply = await chat.press("▶")
    assert "第 2/3 页" in reply.edited[0].text and "聊了聊5" in reply.edited[0].text
    reply = await chat.press("▶")
    assert "第 3/3 页" in reply.edited[0].text and "聊了聊11" in reply.edited[0].text
    assert "▶" not in reply.edited[0].labels
    reply = await chat.press("◀")
    assert "第 2/3 页" in reply.edited[0].text
    reply = await chat.press("⬅️ 返回客户卡片")
    assert reply.edited[0].text.startswith("👤 王先生")
    # A page past the end (a stale button) shows the last page; garbage is refused.
    assert "第 3/3 页" in (await chat.press_data(f"cl:hist:{client.id}:99")).edited[0].text
    assert (await chat.press_data(f"cl:hist:{client.id}:x²")).toast == STALE


async def test_a_history_page_of_long_notes_fits_telegram(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    [client] = await clients_of(harness)
    await seed_history(harness, client.id, 12, note="😀" * 990)
    await open_card(chat)
    reply = await chat.press("📜 全部记录")
    assert reply.sent == [] and len(reply.edited[0].text.encode("utf-16-le")) // 2 <= 4096


async def test_a_client_without_history_has_no_history_button(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    card = chat.messages()[-1]
    assert "📜 全部记录" not in card.labels


async def test_another_agents_history_is_refused(harness: Harness) -> None:
    owner = await ready(harness)
    await owner.send("/client 王先生")
    [client] = await clients_of(harness)
    await seed_history(harness, client.id, 3)
    other = await ready(harness, user_id=2002)
    reply = await other.press_data(f"cl:hist:{client.id}:0")
    assert reply.toast == STALE and reply.edited == [] and reply.sent == []


# -- 2. every open follow-up ------------------------------------------------------------------------------


async def test_the_card_lists_every_open_follow_up(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    for number, phrase in enumerate(("明天下午3点 带看新房", "后天上午10点", "12月1日 14:00 签约", "12月3日 9:00")):
        await chat.send(f"/followup 王先生 {phrase}")
        await chat.press("✅ 确认")
        if number:  # one is open already: "replace or add?"
            await chat.press("➕ 再加一个")
    card = await open_card(chat)
    assert (
        "📅 待跟进（4 个）\n"
        "• 11月26日 周四 15:00 · 带看新房\n"
        "• 11月27日 周五 10:00\n"
        "• 12月1日 周二 14:00 · 签约\n"
        "• 12月3日 周四 09:00"
    ) in card


# -- 3. the archive ------------------------------------------------------------------------------------


async def archive(chat: LocalChat, name: str) -> None:
    await open_card(chat, name)
    await chat.press("🗄 归档")
    await chat.press("🗄 确认归档")


async def test_archived_clients_can_be_seen_and_restored(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    await chat.send("/client 李女士")
    await chat.send("/followup 王先生 明天下午3点")
    await chat.press("✅ 确认")
    await archive(chat, "王先生")

    reply = await chat.send("/clients")
    assert "🗄 已归档 (1)" in reply.last.labels
    reply = await chat.press("🗄 已归档 (1)")
    assert reply.edited[0].text.startswith("🗄 已归档的客户（共 1 位）")
    reply = await chat.press("王先生 · 新客户")
    card = reply.edited[0]
    assert card.text.startswith("🗄 王先生 · 新客户 · 已归档")
    assert "📞 电话：+86 138 0013 8000" in card.text
    assert card.labels == ["♻️ 恢复", "⬅️ 返回"]
    restore = card.data_for("♻️ 恢复")

    reply = await chat.press("♻️ 恢复")
    text = reply.edited[0].text
    assert text.startswith("♻️ 已恢复 王先生。") and "归档时取消的跟进不会恢复" in text
    assert "👤 王先生 · 新客户" in text
    [client, _] = await clients_of(harness)
    assert not client.archived
    assert [f.status for f in await follow_ups_of(harness)] == ["cancelled"]
    assert "王先生 · 新客户" in (await chat.send("/clients")).last.labels
    # Restored once: the button is spent.
    assert (await chat.press_data(restore)).toast == STALE


async def test_the_archive_pages_and_an_empty_client_list_still_shows_it(harness: Harness) -> None:
    chat = await ready(harness)
    async with harness.services.sessions() as session, session.begin():
        agent = await harness.agent()
        for n in range(10):
            session.add(
                Client(
                    agent_id=agent.id,
                    name=f"客户{n}",
                    stage="new",
                    archived=True,
                    created_at=START,
                    updated_at=START + timedelta(minutes=n),
                )
            )
    reply = await chat.send("/clients")
    assert reply.texts[0].startswith("📋 你还没有登记客户。")
    reply = await chat.press("🗄 已归档 (10)")
    assert "第 1/2 页" in reply.edited[0].text
    reply = await chat.press("▶")
    assert "第 2/2 页" in reply.edited[0].text
    reply = await chat.press(reply.edited[0].labels[0])
    reply = await chat.press("⬅️ 返回")
    assert "第 2/2 页" in reply.edited[0].text


async def test_an_archived_client_stays_out_of_reach_of_every_other_button(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    [client] = await clients_of(harness)
    await archive(chat, "王先生")
    for data in (f"cl:card:{client.id}:new", f"cl:log:{client.id}:-", f"cl:hist:{client.id}:0"):
        assert (await chat.press_data(data)).toast == STALE
    other = await ready(harness, user_id=2002)
    for data in (f"cl:acard:{client.id}:0", f"cl:restore:{client.id}:0"):
        reply = await other.press_data(data)
        assert reply.toast == STALE and reply.edited == []
    assert (await clients_of(harness))[0].archived
    # Only an archived client has an archived card.
    await chat.send("/client 李女士")
    active = (await clients_of(harness))[-1]
    assert (await chat.press_data(f"cl:restore:{active.id}:0")).toast == STALE


async def test_restoring_a_number_now_used_by_another_client_is_refused(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    await archive(chat, "王先生")
    await chat.send("/client 王太太 13800138000")
    await chat.send("/clients")
    await chat.press("🗄 已归档 (1)")
    await chat.press("王先生 · 新客户")
    reply = await chat.press("♻️ 恢复")
    assert "王太太" in reply.last.text and "没有恢复" in reply.last.text
    assert (await clients_of(harness))[0].archived


# -- 4. the same name ----------------------------------------------------------------------------------


async def test_the_same_name_asks_before_adding(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生 13800138000")
    await chat.press("🔀 阶段")
    await chat.press("意向")
    reply = await chat.send("/client 王先生 13900139000 两居 预算200万")
    assert reply.texts == ["📇 已有同名客户 王先生（+86 138 0013 8000，意向），仍然添加？"]
    assert reply.last.labels == ["➕ 仍然添加", "👤 打开 王先生"]
    add_data = reply.last.data_for("➕ 仍然添加")
    assert len(await clients_of(harness)) == 1
    # Opening the one already there changes nothing.
    reply = await chat.press("👤 打开 王先生")
    assert reply.last.text.startswith("👤 王先生 · 意向")
    reply = await chat.press("➕ 仍然添加")
    assert reply.last.text.startswith("✅ 登记好了！")
    first, second = await clients_of(harness)
    assert (second.name, second.phone, second.needs, second.budget) == ("王先生", "+8613900139000", "两居", "200万")
    assert (await chat.press_data(add_data)).toast == STALE
    assert len(await clients_of(harness)) == 2
    del first


async def test_the_same_name_in_the_guided_flow_and_typing_instead_of_answering(harness: Harness) -> None:
    chat = await ready(harness, user_id=2002, language_code="en")
    await chat.send("/client Mr Chan")
    await chat.send("/client")
    reply = await chat.send("mr chan")
    assert reply.texts[0].startswith("📇 You already have a client called Mr Chan (New). Add another one?")
    reply = await chat.send("hello")  # not an answer: the question stays, nothing lost
    assert "buttons" in reply.texts[0]
    reply = await chat.press("➕ Add anyway")
    assert reply.last.text.startswith("📞 What's mr chan's phone number?")
    assert [c.name for c in await clients_of(harness, 2002)] == ["Mr Chan", "mr chan"]


async def test_an_archived_client_of_the_same_name_is_no_question(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    await archive(chat, "王先生")
    assert (await chat.send("/client 王先生")).last.text.startswith("✅ 登记好了！")


# -- 5. a sentence for a name --------------------------------------------------------------------------


async def test_a_sentence_for_a_name_is_asked_about_and_goes_to_the_needs(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/client 客户很在意学区和地铁，预算有限…")
    assert reply.texts[0].startswith("🤔 “客户很在意学区和地铁”是客户的名字吗？")
    assert reply.last.labels == ["✅ 是名字", "✍️ 不是，记进需求"]
    assert await clients_of(harness) == []
    reply = await chat.press("✍️ 不是，记进需求")
    assert "客户怎么称呼" in reply.last.text
    reply = await chat.send("李女士 13800138000")
    [client] = await clients_of(harness)
    assert (client.name, client.phone, client.needs) == ("李女士", "+8613800138000", "客户很在意学区和地铁，预算有限…")
    assert reply.last.text.startswith("✅ 登记好了！")


async def test_yes_it_is_the_name(harness: Harness) -> None:
    chat = await ready(harness)
    yes = (await chat.send("/client 朋友介绍的那位很在意学区的李姐")).last.data_for("✅ 是名字")
    reply = await chat.press("✅ 是名字")
    assert reply.last.text.startswith("✅ 登记好了！")
    [client] = await clients_of(harness)
    assert client.name == "朋友介绍的那位很在意学区的李姐"
    assert (await chat.press_data(yes)).toast == STALE


@pytest.mark.parametrize("line", ["/client 王先生 13800138000 三居", "/client Mr Chan 2-bed", "/client 欧阳先生"])
async def test_ordinary_names_are_not_asked_about(harness: Harness, line: str) -> None:
    chat = await ready(harness)
    assert (await chat.send(line)).last.text.startswith("✅ 登记好了！")


async def test_an_english_sentence_is_asked_about(harness: Harness) -> None:
    chat = await ready(harness, user_id=2002, language_code="en")
    reply = await chat.send("/client client wants a school nearby, budget 3M")
    assert reply.texts[0].startswith("🤔 Is “client” the client's name?")


# -- 6. contact kinds ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language_code", "labels"),
    [
        ("zh-hans", ["📞 电话", "💬 微信", "🤝 到访/面谈", "🏠 带看"]),
        ("zh-hant", ["📞 電話", "💬 微信", "🤝 到訪/面談", "🏠 帶看"]),
        ("en", ["📞 Call", "💬 WeChat", "🤝 Visit/meeting", "🏠 Viewing"]),
    ],
)
async def test_contact_kinds_speak_the_agents_language(harness: Harness, language_code: str, labels: list[str]) -> None:
    chat = harness.chat(language_code=language_code)
    from tests.handlers.test_onboarding import onboard

    await onboard(chat, language={"zh-hans": "简体中文", "zh-hant": "繁體中文", "en": "English"}[language_code])
    await chat.send("/client 王先生")
    reply = await chat.press(chat.last_with_buttons().labels[0])  # type: ignore[union-attr]  # log contact
    assert reply.edited[0].labels[:4] == labels
    await chat.press(labels[1])
    await chat.send("发了户型图")
    [client] = await clients_of(harness)
    [contact] = await contacts_of(harness, client.id)
    assert contact.kind == "message"  # 微信 is stored under its old name


# -- 7. /help --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("language_code", "line"), [("zh-hans", "/clients 王"), ("en", "/clients Wang")])
async def test_help_says_clients_can_be_searched(harness: Harness, language_code: str, line: str) -> None:
    chat = await ready(harness, language_code=language_code)
    assert line in (await chat.send("/help")).texts[0]


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "cl:reg:add",  # no question is open
        "cl:reg:name",
        "cl:reg:xyz",
        "cl:reg",
        "cl:arch:x",
        "cl:arch:-1",
        "cl:arch:9999999",
        "cl:acard:0:0",
        "cl:acard:99999999999:0",
        "cl:acard:1",
        "cl:restore:1:²",
        "cl:hist:1:-",
        "cl:hist:1:9999999",
        "cl:hist:1:0:nonsense:0",
    ],
)
async def test_garbage_on_the_new_buttons_is_refused(harness: Harness, data: str) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    await archive(chat, "王先生")
    reply = await chat.press_data(data)
    assert reply.toast == STALE and reply.edited == [] and reply.sent == []
    assert (await clients_of(harness))[0].archived


async def test_a_question_survives_a_restart_and_the_other_questions_buttons_are_stale(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 王先生")
    await chat.send("/client 王先生 三居")
    await harness.restart()
    chat = harness.chat()
    assert (await chat.send("嗯")).texts[0].startswith("👆")  # typed, not answered: the question stays
    assert (await chat.press_data("cl:reg:name")).toast == STALE  # the open question is the same-name one
    reply = await chat.press_data("cl:reg:add")
    assert reply.last.text.startswith("✅ 登记好了！")
    assert [(c.name, c.needs) for c in await clients_of(harness)] == [("王先生", None), ("王先生", "三居")]


async def test_a_sentence_and_then_the_same_name_asks_both_in_turn(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/client 客户很在意学区和地铁")
    await chat.press("✅ 是名字")
    reply = await chat.send("/client 客户很在意学区和地铁，预算有限")
    assert reply.texts[0].startswith("🤔")
    reply = await chat.press("✅ 是名字")
    assert reply.last.text.startswith("📇 已有同名客户")
    await chat.press("➕ 仍然添加")
    assert len(await clients_of(harness)) == 2
