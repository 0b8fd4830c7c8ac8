"""带看后复盘 as an agent meets it: asked when a showing ends (or right after a viewing is logged), reactions toggled
and saved, the 回访 booked by the rule, the tip, the card line, the /clients filter, the day's reflection line.

The clock starts on Wednesday 2026-11-25 09:00 in Shanghai (01:00 UTC). Each agent's follow-up hour, morning hour
and work days are set explicitly, so every expected time below is computed from the rule by hand.
"""

from __future__ import annotations

import time as wall
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select, update

from bot import showings
from bot.export import gather
from bot.followups import add_follow_up
from bot.models import Agent, Client, ContactLog, Delivery, FollowUp, ShowingReview, TipState
from bot.statuses import Reaction
from bot.tip_library import library
from handlers.reflections import render_prompt
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Reply
from tests.handlers.test_followups import agent_with_client
from tests.support import Harness

STALE = "这个按钮已经过期了，请用最新的消息操作。"
REVIEW_LABELS = [
    "价格", "户型", "装修", "位置", "学区", "要和家人商量", "有意向", "不合适", "📝 加备注", "✅ 保存", "🚫 这次没看成",
]  # fmt: skip


async def set_agent(harness: Harness, user_id: int, zone: str, **values: Any) -> None:
    """The agent's zone, follow-up hour 10:00, morning 09:30, Monday–Friday (unless `values` says otherwise)."""
    values = {"followup_time": time(10, 0), "work_days": "12345", "day_part_hours": {"morning": "09:30"}} | values
    async with harness.services.sessions() as session, session.begin():
        await session.execute(update(Agent).where(Agent.telegram_user_id == user_id).values(timezone=zone, **values))


async def reviews(harness: Harness) -> list[ShowingReview]:
    async with harness.services.sessions() as session:
        return list((await session.scalars(select(ShowingReview).order_by(ShowingReview.id))).all())


async def waiting_reviews(harness: Harness) -> list[Delivery]:
    async with harness.services.sessions() as session:
        query = select(Delivery).where(Delivery.kind == "showing_review", Delivery.status == "pending")
        return list((await session.scalars(query)).all())


async def send_voice(chat: LocalChat, file_id: str, seconds: int) -> Reply:
    message = {
        "message_id": chat.api.next_message_id(chat.chat_id),
        "date": int(wall.time()),
        "chat": chat.chat,
        "from": chat.user,
        "voice": {"file_id": file_id, "file_unique_id": f"u-{file_id}", "duration": seconds},
    }
    return await chat._process({"update_id": next(chat._update_ids), "message": message})


async def test_a_showing_is_reviewed_when_it_ends_and_saving_books_the_follow_up(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await set_agent(harness, 1001, "Asia/Shanghai")
    await chat.send("/followup 王先生 明天下午3点 带看 万科城3房")
    await chat.press("✅ 确认")
    [review] = await reviews(harness)
    assert (review.status, review.listing) == ("open", "带看 万科城3房")
    # 15:00 Shanghai tomorrow + the default 90 minutes = 16:30 local, 08:30 UTC.
    [asked] = await waiting_reviews(harness)
    assert asked.due_at == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)

    engine = engine_of(harness.app)
    harness.clock.set(datetime(2026, 11, 26, 8, 29, tzinfo=UTC))
    await engine.sweep()  # the 15:00 nudge
    assert not chat.messages()[-1].text.startswith("🏠")
    harness.clock.set(asked.due_at)
    assert (await engine.sweep()).sent == 1
    message = chat.messages()[-1]
    assert message.text.split("\n")[:2] == ["🏠 带看复盘 · 王先生", "📍 带看 万科城3房"]
    assert message.labels == REVIEW_LABELS
    assert (await engine.sweep()).claimed == 0  # asked once

    await chat.press("价格", on=message)
    reply = await chat.press("要和家人商量", on=message)
    assert "✓ 价格" in reply.edited[0].labels and "✓ 要和家人商量" in reply.edited[0].labels
    await chat.press("📝 加备注", on=message)
    reply = await chat.send("觉得贵了20万，要问老婆")
    assert reply.texts[0] == "📝 备注记下了。"
    assert "📝 觉得贵了20万，要问老婆" in reply.last.text
    reply = await chat.press("✅ 保存", on=reply.last)

    [review] = await reviews(harness)
    assert (review.status, review.reactions, review.note) == ("saved", "price,family", "觉得贵了20万，要问老婆")
    # family decides (before price): in 2 days, Saturday 28th → Monday 30th (work days Mon–Fri), 10:00 Shanghai.
    async with harness.services.sessions() as session:
        revisit = (await session.scalars(select(FollowUp).where(FollowUp.status == "open"))).one()
        showing = (await session.scalars(select(FollowUp).where(FollowUp.status == "done"))).one()
        viewing = (await session.scalars(select(ContactLog).where(ContactLog.kind == "viewing"))).one()
        client = await session.get(Client, client_id)
    assert revisit.due_at == datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert revisit.note is not None and "邀请拍板的人" in revisit.note
    assert showing.note == "带看 万科城3房" and viewing.client_id == client_id
    assert client is not None and client.stage == "viewing"  # a new client who saw a home is at 带看
    assert await waiting_reviews(harness) == []  # the 回访 is no showing: nothing more to ask

    confirmation, intro, tip_message = reply.edited[0], *reply.sent
    assert confirmation.text.startswith("✅ 王先生 的带看复盘已保存\n客户反应：价格、要和家人商量")
    assert "📅 回访：11月30日 周一 10:00" in confirmation.text
    assert confirmation.labels == ["📅 改回访时间", "➕ 补充备注", "👤 客户卡片"]
    assert intro.text == "💡 配合这次复盘，给你一条小贴士："
    agent = await harness.agent()
    async with harness.services.sessions() as session:
        seen = {s.tip_id: s for s in (await session.scalars(select(TipState))).all()}
    tip = showings.tip_for(library(), agent.id, {}, [Reaction.PRICE, Reaction.FAMILY])
    assert tip is not None and seen[tip.id].shown == 1 and tip_message.labels[0].startswith("👍")

    # ➕ a voice note afterwards
    await chat.press("➕ 补充备注", on=confirmation)
    reply = await send_voice(chat, "voice-wang", 7)
    assert reply.texts == ["🎤 语音备注记下了（7 秒）。已加到 王先生 的带看复盘里。"]
    assert (await reviews(harness))[0].voice_file_id == "voice-wang"

    # the card, the /clients filter, the evening check-in, the export
    agent = await harness.agent()
    reply = await chat.press("👤 客户卡片", on=confirmation)
    card_lines = [
        "🏠 最近带看复盘（11月26日 周四 16:30）：价格、要和家人商量",
        "📝 觉得贵了20万，要问老婆",
        "🎤 有一条语音备注",
    ]
    assert "\n".join(card_lines) in reply.last.text
    async with harness.services.sessions() as session, session.begin():
        now = harness.clock.now()
        session.add(Client(agent_id=agent.id, name="李小姐", stage="viewing", created_at=now, updated_at=now))
    reply = await chat.send("/clients")
    assert "🏠 价格 1" in reply.last.labels and "🏠 有意向 1" not in reply.last.labels
    reply = await chat.press("🏠 价格 1")
    assert "正在看：最近带看反应：价格" in reply.edited[0].text
    assert [label for label in reply.edited[0].labels if "·" in label] == ["王先生 · 带看"]
    async with harness.services.sessions() as session:
        prompt = Delivery(agent_id=agent.id, kind="reflection", due_at=harness.clock.now())
        shown = await render_prompt(session, prompt, agent, harness.clock.now())
        document = await gather(session, agent, harness.clock.now())
    assert shown is not None and shown.text.endswith("<b>今天的带看复盘</b>\n🏠 带看 王先生：价格、要和家人商量")
    [exported] = document["clients"][0]["showing_reviews"]
    assert (exported["reactions"], exported["status"]) == ("price,family", "saved")
    harness.assert_all_text_from_catalogs()


async def test_a_moved_showing_is_asked_at_its_new_end_and_a_cancelled_one_never(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    await set_agent(harness, 1001, "Asia/Shanghai")
    await chat.send("/followup 王先生 明天下午3点 带看2小时")
    await chat.press("✅ 确认")
    [asked] = await waiting_reviews(harness)
    assert asked.due_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # 15:00 + the 2 hours written in the note

    engine = engine_of(harness.app)
    harness.clock.set(datetime(2026, 11, 26, 7, 0, tzinfo=UTC))
    await engine.sweep()  # the nudge at 15:00: the client asks for later
    await chat.press("⏰ 稍后")
    await chat.press("🌆 今晚（11月26日 周四 19:00）")
    [asked] = await waiting_reviews(harness)
    assert asked.due_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)  # 19:00 + 2 h = 21:00 local
    harness.clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert (await engine.sweep()).sent == 0  # not at the old end

    # Replaced by a call: the showing's review goes with it, and a call is asked nothing.
    await chat.send("/followup 王先生 后天上午10点 电话问问")
    await chat.press("✅ 确认")
    reply = await chat.press(chat.last_with_buttons().labels[0])  # type: ignore[union-attr]  # 🔁 replace
    assert reply.edited
    assert await reviews(harness) == [] and await waiting_reviews(harness) == []
    harness.clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    await engine.sweep()
    assert not any(m.text.startswith("🏠") for m in chat.messages())


async def test_a_logged_viewing_is_reviewed_at_once_in_vancouver_at_the_month_end(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness, user_id=1002, name="Mr Lee", language_code="en")
    await set_agent(harness, 1002, "America/Vancouver")
    # Monday 30 November, 16:00 in Vancouver (00:00 UTC on 1 December): a showing at 17:00 is booked.
    harness.clock.set(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    await chat.send("/followup Mr Lee today 5pm viewing at Oak St")
    await chat.press("✅ Confirm")
    [booked] = await waiting_reviews(harness)
    assert booked.due_at == datetime(2026, 12, 1, 2, 30, tzinfo=UTC)  # 17:00 + 90 min, Vancouver

    # 18:00: the agent logs the viewing from the card; the review is the reply, the booked one is that same review.
    harness.clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    await chat.send("/clients")
    await chat.press("Mr Lee · New")
    await chat.press("📞 Log contact")
    await chat.press("🏠 Viewing")
    reply = await chat.send("Oak St 3-bed, second look")
    assert reply.last.text.split("\n")[:2] == ["🏠 Showing review · Mr Lee", "📍 viewing at Oak St"]
    assert await waiting_reviews(harness) == []
    await chat.press("Interested", on=reply.last)
    toggled = await chat.press("Not a fit", on=reply.last)
    assert "✓ Not a fit" in toggled.edited[0].labels and "Interested" in toggled.edited[0].labels  # one or the other
    await chat.press("Interested", on=reply.last)
    saved = await chat.press("✅ Save", on=reply.last)
    [review] = await reviews(harness)
    assert (review.status, review.reactions) == ("saved", "interested")
    # interested: tomorrow morning — Tuesday 1 December (the month turned), 09:30 Vancouver = 17:30 UTC.
    async with harness.services.sessions() as session:
        revisit = (await session.scalars(select(FollowUp).where(FollowUp.status == "open"))).one()
        viewings = (await session.scalars(select(ContactLog).where(ContactLog.kind == "viewing"))).all()
    assert revisit.due_at == datetime(2026, 12, 1, 17, 30, tzinfo=UTC)
    assert len(viewings) == 1 and viewings[0].client_id == client_id  # logged once
    assert "\n📅 Follow-up: Tue 1 Dec, 09:30\n👉 strike while it's hot" in saved.edited[0].text

    harness.clock.set(booked.due_at)
    # Neither the booked review (it was the one answered) nor the showing's nudge (saving closed it) comes now.
    assert (await engine_of(harness.app).sweep()).sent == 0
    assert [m for m in chat.messages() if m.text.startswith("🏠 Showing review")] == []
    harness.assert_all_text_from_catalogs()


async def test_other_agents_forged_stale_and_dismissed_buttons_change_nothing(harness: Harness) -> None:
    chat_a, client_a = await agent_with_client(harness)
    chat_b, _ = await agent_with_client(harness, user_id=1002, name="李小姐")
    agent_a = await harness.agent()
    async with harness.services.sessions() as session, session.begin():
        client = await session.get(Client, client_a)
        assert client is not None
        agent = await session.get(Agent, agent_a.id)
        assert agent is not None
        review = await showings.review_after_viewing(session, agent, client, "看房", harness.clock.now())
        review_id = review.id

    for data in (f"sr:tog:{review_id}:price", f"sr:save:{review_id}", f"sr:note:{review_id}", f"sr:no:{review_id}"):
        reply = await chat_b.press_data(data)  # agent B, on agent A's review
        assert (reply.toast, reply.sent, reply.edited) == (STALE, [], [])
    for data in ("sr:tog:99999999:price", f"sr:tog:{review_id}:bogus", "sr:save:abc", "sr:save:0", "sr:x:1", "sr:save"):
        reply = await chat_a.press_data(data)
        assert (reply.toast, reply.sent, reply.edited) == (STALE, [], [])
    assert await harness.waiting(1002) is None
    [stored] = await reviews(harness)
    assert (stored.reactions, stored.status) == ("", "open")

    reply = await chat_a.press_data(f"sr:save:{review_id}")
    assert reply.toast == "先选一下客户的反应（或者加个备注），再点保存。" and reply.alert
    reply = await chat_a.press_data(f"sr:no:{review_id}")
    assert reply.edited[0].text.startswith("好的，王先生 这次没看成")
    reply = await chat_a.press_data(f"sr:tog:{review_id}:price")
    assert reply.toast == "这次带看已经标记为没看成了。"
    assert (await reviews(harness))[0].reactions == ""

    # A blank or over-long note is asked again and keeps nothing.
    async with harness.services.sessions() as session, session.begin():
        client = await session.get(Client, client_a)
        agent = await session.get(Agent, agent_a.id)
        assert client is not None and agent is not None
        second = await showings.review_after_viewing(session, agent, client, None, harness.clock.now())
        second_id = second.id
    await chat_a.press_data(f"sr:note:{second_id}")
    reply = await chat_a.send("x" * (showings.NOTE_LIMIT + 1))
    assert reply.texts == [f"备注太长了（最多 {showings.NOTE_LIMIT} 字），精简一下再发吧。"]
    async with harness.services.sessions() as session, session.begin():
        await session.execute(update(Client).where(Client.id == client_a).values(archived=True))
    reply = await chat_a.send("贵")  # the client was archived meanwhile: the note has nowhere to go
    assert reply.texts == [STALE] and await harness.waiting(1001) is None
    assert all(r.note is None for r in await reviews(harness))
    reply = await chat_a.press_data(f"sr:tog:{second_id}:price")
    assert reply.toast == STALE and all(r.reactions == "" for r in await reviews(harness))
    harness.assert_all_text_from_catalogs()


async def test_a_follow_up_already_booked_before_the_rules_time_serves_as_the_follow_up(harness: Harness) -> None:
    """The client's next call is already booked for tomorrow; "discussing with family" would book one in two days:
    the one booked comes first, so it is kept and shown, and no second follow-up is added."""
    chat, client_id = await agent_with_client(harness, user_id=1003, name="Ms Ho", language_code="en")
    await set_agent(harness, 1003, "Asia/Hong_Kong")
    # Wednesday 25 November, 09:00 UTC = 17:00 in Hong Kong: a call is booked for tomorrow 11:00.
    harness.clock.set(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    await chat.send("/followup Ms Ho tomorrow 11am call about the mortgage")
    await chat.press("✅ Confirm")
    await chat.send("/clients")
    await chat.press("Ms Ho · New")
    await chat.press("📞 Log contact")
    await chat.press("🏠 Viewing")
    reply = await chat.send("Kennedy Town 2-bed")
    await chat.press("Asking the family", on=reply.last)
    saved = await chat.press("✅ Save", on=reply.last)
    async with harness.services.sessions() as session:
        planned = (await session.scalars(select(FollowUp).where(FollowUp.status == "open"))).all()
    assert [(f.client_id, f.due_at) for f in planned] == [(client_id, datetime(2026, 11, 26, 3, 0, tzinfo=UTC))]
    assert "\n📅 Already booked, so no second one: Thu 26 Nov, 11:00\n" in saved.edited[0].text
    harness.assert_all_text_from_catalogs()


async def test_a_showing_that_did_not_happen_can_be_undone_or_booked_again_and_is_asked_at_its_new_end(
    harness: Harness,
) -> None:
    chat, client_id = await agent_with_client(harness)
    await set_agent(harness, 1001, "Asia/Shanghai")
    await chat.send("/followup 王先生 明天下午3点 带看 万科城3房")
    await chat.press("✅ 确认")
    [asked] = await waiting_reviews(harness)
    engine = engine_of(harness.app)
    harness.clock.set(datetime(2026, 11, 26, 7, 0, tzinfo=UTC))
    await engine.sweep()  # the 15:00 nudge
    harness.clock.set(asked.due_at)  # Thursday 26th, 16:30 Shanghai
    await engine.sweep()
    review_message = chat.messages()[-1]
    await chat.press("价格", on=review_message)

    reply = await chat.press("🚫 这次没看成", on=review_message)
    dismissed = reply.edited[0]
    assert dismissed.text == "好的，王先生 这次没看成，不记复盘。点 📅 重新约带看，新时间过后我再来问复盘。"
    assert dismissed.labels == ["📅 重新约带看", "↩️ 撤销"]
    assert [r.status for r in await reviews(harness)] == ["dismissed"]

    # ↩️: the review is back, with what was chosen before, and can be answered.
    undo = dismissed.data_for("↩️ 撤销")
    reply = await chat.press("↩️ 撤销", on=dismissed)
    assert reply.edited[0].text.split("\n")[0] == "🏠 带看复盘 · 王先生" and "✓ 价格" in reply.edited[0].labels
    assert [(r.status, r.reactions) for r in await reviews(harness)] == [("open", "price")]
    reply = await chat.press_data(undo)  # a second tap (an old copy of the message) only shows it again
    assert reply.toast == "复盘已经恢复了，直接在上面选客户反应就行。" and reply.edited == []
    assert [r.status for r in await reviews(harness)] == ["open"]

    # 🚫 again, then 📅: the showing is moved to Saturday 16:00, and that new time gets its own review at 17:30.
    await chat.press("🚫 这次没看成", on=review_message)
    await chat.press("📅 重新约带看", on=dismissed)
    await chat.send("后天下午4点")
    async with harness.services.sessions() as session:
        showing = (await session.scalars(select(FollowUp).where(FollowUp.client_id == client_id))).one()
    assert (showing.status, showing.due_at) == ("open", datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    old, new = await reviews(harness)
    assert (old.status, new.status, new.follow_up_id, new.reactions) == ("dismissed", "open", showing.id, "")
    [waiting] = await waiting_reviews(harness)
    assert (waiting.subject_id, waiting.due_at) == (new.id, datetime(2026, 11, 28, 9, 30, tzinfo=UTC))

    # The old message's ↩️ now would bring back the missed showing beside the new one: refused, nothing changes.
    reply = await chat.press("↩️ 撤销", on=dismissed)
    assert reply.alert and reply.toast == "这次带看已经重新约了时间，新时间过后我再来问复盘。"
    assert [r.status for r in await reviews(harness)] == ["dismissed", "open"]

    # Moved once more (the same 📅 on the old message): the new review follows; no third one is booked, and
    # another client's showing booked meanwhile keeps its own review where it was.
    agent = await harness.agent()
    async with harness.services.sessions() as session, session.begin():
        li = Client(
            agent_id=agent.id,
            name="李小姐",
            stage="new",
            created_at=harness.clock.now(),
            updated_at=harness.clock.now(),
        )
        session.add(li)
        await session.flush()
        fresh = await session.get(Agent, agent.id)
        assert fresh is not None
        await add_follow_up(
            session, fresh, li, datetime(2026, 11, 30, 2, 0, tzinfo=UTC), "带看 李小姐", harness.clock.now()
        )
    await chat.press("📅 重新约带看", on=dismissed)
    await chat.send("11月29日下午2点")
    old, new, other = await reviews(harness)
    assert (old.status, new.status, new.ends_at) == ("dismissed", "open", datetime(2026, 11, 29, 7, 30, tzinfo=UTC))
    assert {(d.subject_id, d.due_at) for d in await waiting_reviews(harness)} == {
        (new.id, datetime(2026, 11, 29, 7, 30, tzinfo=UTC)),
        (other.id, datetime(2026, 11, 30, 3, 30, tzinfo=UTC)),  # Monday 10:00 + 90 min, untouched
    }

    harness.clock.set(datetime(2026, 11, 29, 6, 0, tzinfo=UTC))
    await engine.sweep()  # the showing's nudge at 14:00
    before = len(chat.messages())
    harness.clock.set(datetime(2026, 11, 29, 7, 30, tzinfo=UTC))
    assert (await engine.sweep()).sent == 1
    [asked_again] = [m for m in chat.messages()[before:] if m.text.startswith("🏠")]
    assert asked_again.text.split("\n")[:2] == ["🏠 带看复盘 · 王先生", "📍 带看 万科城3房"]
    harness.assert_all_text_from_catalogs()


async def test_a_logged_viewing_that_did_not_happen_offers_undo_and_a_new_follow_up_in_english(
    harness: Harness,
) -> None:
    chat, _ = await agent_with_client(harness, user_id=1004, name="Mr Chan", language_code="en")
    await set_agent(harness, 1004, "Europe/London")
    await chat.send("/clients")
    await chat.press("Mr Chan · New")
    await chat.press("📞 Log contact")
    await chat.press("🏠 Viewing")
    reply = await chat.send("Canary Wharf 2-bed")
    reply = await chat.press("🚫 Didn't happen", on=reply.last)
    assert reply.edited[0].text == (
        "OK — the showing with Mr Chan didn't happen, so there's nothing to review. "
        "Book a new time with /followup when you have one."
    )
    assert reply.edited[0].labels == ["↩️ Undo"]  # no showing booked, so nothing to rebook
    reply = await chat.press("↩️ Undo", on=reply.edited[0])
    assert reply.edited[0].text.startswith("🏠 Showing review · Mr Chan")
    assert [r.status for r in await reviews(harness)] == ["open"]
    harness.assert_all_text_from_catalogs()
