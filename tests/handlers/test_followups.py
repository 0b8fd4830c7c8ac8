"""Follow-ups as an agent uses them: scheduling in plain words, the nudge, and its buttons.

The agent is in Hong Kong (UTC+8); the clock starts on Wednesday 2026-11-25 09:00 local.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.models import Client, Delivery, FollowUp
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds


async def agent_with_client(
    harness: Harness, user_id: int = 1001, name: str = "王先生", stage: str = "new", language_code: str = "zh-hans"
) -> tuple[LocalChat, int]:
    chat = harness.chat(user_id=user_id, language_code=language_code)
    await onboard(chat, language="English" if language_code == "en" else "简体中文")
    await hold_back_other_kinds(harness, "followup")
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session, session.begin():
        client = Client(
            agent_id=agent.id,
            name=name,
            stage=stage,
            archived=False,
            created_at=harness.clock.now(),
            updated_at=harness.clock.now(),
        )
        session.add(client)
        await session.flush()
        return chat, client.id


async def follow_ups(harness: Harness) -> list[FollowUp]:
    async with harness.services.sessions() as session:
        return list((await session.execute(select(FollowUp).order_by(FollowUp.id))).scalars())


async def pending_deliveries(harness: Harness) -> list[Delivery]:
    """Pending nudges (the agent's daily tip, also waiting in the table, is not one)."""
    async with harness.services.sessions() as session:
        query = select(Delivery).where(Delivery.status == "pending", Delivery.kind == "followup").order_by(Delivery.id)
        return list((await session.execute(query)).scalars())


async def test_one_line_follow_up_is_echoed_then_saved_on_confirm(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    reply = await chat.send("/followup 王先生 明天下午3点 带看新房")
    assert reply.texts == ["📅 跟进 王先生：11月26日 周四 15:00\n📝 带看新房\n确认吗？"]
    assert reply.last.labels == ["✅ 确认", "🕒 换个时间"]
    assert await follow_ups(harness) == []  # nothing is saved before the agent confirms

    reply = await chat.press("✅ 确认")
    assert reply.edited[0].text == "✅ 已安排：11月26日 周四 15:00 提醒你跟进 王先生。到时候我会准时叫你。"
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.note, saved.status) == (client_id, "带看新房", "open")
    assert saved.due_at == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    [delivery] = await pending_deliveries(harness)
    assert (delivery.kind, delivery.subject_id, delivery.due_at) == ("followup", saved.id, saved.due_at)


@pytest.mark.parametrize(
    ("phrase", "echo"),
    [
        ("明天下午3点", "11月26日 周四 15:00"),
        ("周五上午10点", "11月27日 周五 10:00"),
        ("下周一早上9点", "11月30日 周一 09:00"),
        ("11月30日 14:00", "11月30日 周一 14:00"),
        ("3天后", "11月28日 周六 10:00"),  # a day without a time: the follow-up hour
        ("两小时后", "11月25日 周三 11:00"),
        ("tomorrow 3pm", "11月26日 周四 15:00"),
        ("in 2 hours", "11月25日 周三 11:00"),
        ("2026-12-05 18:00", "12月5日 周六 18:00"),
        ("明天", "11月26日 周四 10:00"),  # a day without a time: the agent's follow-up hour
    ],
)
async def test_time_phrases_through_the_handler(harness: Harness, phrase: str, echo: str) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send(f"/followup 王先生 {phrase}")
    assert reply.texts == [f"📅 跟进 王先生：{echo}\n确认吗？"]


@pytest.mark.parametrize("phrase", ["昨天", "今天早上8点"])
async def test_past_times_are_refused_and_nothing_is_saved(harness: Harness, phrase: str) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send(f"/followup 王先生 {phrase}")
    assert reply.texts[0].startswith("⏪ ") and "已经过去了" in reply.texts[0]
    assert await follow_ups(harness) == [] and await pending_deliveries(harness) == []


async def test_garbage_gets_examples_and_nothing_is_saved(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send("/followup 王先生 找个时间吧")
    assert reply.texts[0].startswith("🤔 没看懂“找个时间吧”是什么时间。可以这样写：明天下午3点")
    reply = await chat.send("asdfgh")  # still waiting for a time
    assert reply.texts[0].startswith("🤔 没看懂“asdfgh”")
    reply = await chat.send("tomorrow 3pm")
    assert reply.texts == ["📅 跟进 王先生：11月26日 周四 15:00\n确认吗？"]
    assert await follow_ups(harness) == []


async def test_unknown_client_and_no_clients(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send("/followup 李小姐 明天")
    assert reply.texts[0].startswith("没找到叫“李小姐”的客户")
    other = harness.chat(user_id=2002)
    await onboard(other)
    assert (await other.send("/followup")).texts[0].startswith("你还没有登记客户")


async def test_guided_follow_up_with_the_suggestion_button(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness, stage="viewing")
    reply = await chat.send("/followup")
    assert reply.texts == ["📅 跟进哪位客户？点选，或直接输入客户名字。"] and reply.last.labels == ["王先生 · 带看"]
    reply = await chat.press("王先生 · 带看")
    assert reply.texts[0].startswith("🕒 什么时候跟进 王先生？")
    assert reply.last.labels == ["✅ 11月27日 周五 10:00"]  # a viewing: follow up in two days
    reply = await chat.press("✅ 11月27日 周五 10:00")
    assert reply.texts == ["✅ 已安排：11月27日 周五 10:00 提醒你跟进 王先生。到时候我会准时叫你。"]
    [saved] = await follow_ups(harness)
    assert saved.due_at == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


async def test_typed_client_name_in_the_guided_flow(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    await chat.send("/followup")
    reply = await chat.send("王先生 周五上午10点 回访")
    assert reply.texts == ["📅 跟进 王先生：11月27日 周五 10:00\n📝 回访\n确认吗？"]


async def test_a_name_of_several_words_is_taken_whole(harness: Harness) -> None:
    """ "Mr Wang tomorrow 3pm viewing": the client is Mr Wang and the note "viewing", not "Wang viewing"."""
    chat, wang = await agent_with_client(harness, name="Mr Wang", language_code="en")
    agent = await harness.agent(1001)
    async with harness.services.sessions() as session, session.begin():
        for name in ("Mr Lee", "Wang"):
            now = harness.clock.now()
            session.add(
                Client(agent_id=agent.id, name=name, stage="new", archived=False, created_at=now, updated_at=now)
            )
    reply = await chat.send("/followup Mr Wang tomorrow 3pm viewing")
    assert reply.texts == ["📅 Follow up with Mr Wang: Thu 26 Nov, 15:00\n📝 viewing\nConfirm?"]
    await chat.press("✅ Confirm")
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.note) == (wang, "viewing")

    reply = await chat.send("/followup mr WANG tomorrow 4pm")  # any case
    assert reply.texts == ["📅 Follow up with Mr Wang: Thu 26 Nov, 16:00\nConfirm?"]
    reply = await chat.send("/followup Wang tomorrow 5pm call")  # the client called just Wang
    assert reply.texts == ["📅 Follow up with Wang: Thu 26 Nov, 17:00\n📝 call\nConfirm?"]
    reply = await chat.send("/followup Mr tomorrow 3pm")  # two Mr: which one?
    assert sorted(label.split(" · ")[0] for label in reply.last.labels) == ["Mr Lee", "Mr Wang"]
    await chat.send("/followup")
    reply = await chat.send("Mr Lee tomorrow 10am call back")  # typed in the guided flow
    assert reply.texts == ["📅 Follow up with Mr Lee: Thu 26 Nov, 10:00\n📝 call back\nConfirm?"]


async def schedule_one(harness: Harness, chat: LocalChat, phrase: str = "明天下午3点 带看新房") -> FollowUp:
    await chat.send(f"/followup 王先生 {phrase}")
    reply = await chat.press("✅ 确认")
    if "➕ 再加一个" in reply.last.labels:  # the client already has one open: keep both
        await chat.press("➕ 再加一个")
    return (await follow_ups(harness))[-1]


async def test_the_nudge_arrives_on_time_with_its_buttons(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    engine = engine_of(harness.app)
    harness.clock.set(saved.due_at - timedelta(seconds=1))
    assert (await engine.sweep()).sent == 0
    harness.clock.set(saved.due_at)
    assert (await engine.sweep()).sent == 1
    nudge = chat.messages()[-1]
    assert nudge.text == "⏰ 跟进提醒：王先生（新客户）\n📝 带看新房\n还没有联系记录。"
    assert nudge.labels == ["✅ 完成", "⏰ 稍后", "📅 改时间", "👤 客户"]
    assert (await engine.sweep()).claimed == 0  # never twice


async def test_done_then_outcome_then_next_suggestion(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    harness.clock.set(saved.due_at)
    await engine_of(harness.app).sweep()
    reply = await chat.press("✅ 完成")
    assert reply.edited[0].text.startswith("✅ 已完成跟进：王先生")
    assert reply.texts == ["结果怎么样？写一句记下来（可选），或点“跳过”。"]
    reply = await chat.send("客户想再看一次学区房")
    assert reply.texts[0] == "📝 记下了。"
    assert reply.texts[1].startswith("📅 下次什么时候跟进 王先生？新客户阶段的客户，建议 1 天后：11月27日 周五 10:00")
    [done] = await follow_ups(harness)
    assert (done.status, done.outcome) == ("done", "客户想再看一次学区房")
    reply = await chat.press("✅ 就这个时间")
    assert reply.texts[0].startswith("✅ 已安排：11月27日 周五 10:00")
    assert [f.status for f in await follow_ups(harness)] == ["done", "open"]
    assert len(await pending_deliveries(harness)) == 1
    del client_id


async def test_snooze_moves_the_nudge(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    engine = engine_of(harness.app)
    harness.clock.set(saved.due_at)
    await engine.sweep()
    reply = await chat.press("⏰ 稍后")
    assert reply.edited[0].labels == [
        "⏰ 1小时后（11月26日 周四 16:00）",
        "🌆 今晚（11月26日 周四 19:00）",
        "🌅 明早（11月27日 周五 09:00）",
        "⬅️ 返回",
    ]
    reply = await chat.press("⏰ 1小时后（11月26日 周四 16:00）")
    assert reply.edited[0].text == "⏰ 好的，11月26日 周四 16:00 再提醒你跟进 王先生。"
    harness.clock.advance(timedelta(minutes=59))
    assert (await engine.sweep()).sent == 0
    harness.clock.advance(timedelta(minutes=1))
    assert (await engine.sweep()).sent == 1
    assert chat.messages()[-1].text.startswith("⏰ 跟进提醒：王先生")


async def test_reschedule_by_typing(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    harness.clock.set(saved.due_at)
    await engine_of(harness.app).sweep()
    reply = await chat.press("📅 改时间")
    assert reply.texts == ["🕒 改到什么时候？例如：明天下午3点、tomorrow 3pm。"]
    reply = await chat.send("后天上午10点")
    assert reply.texts == ["📅 已改到 11月28日 周六 10:00 跟进 王先生。"]
    [moved] = await follow_ups(harness)
    assert moved.due_at == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    [delivery] = await pending_deliveries(harness)
    assert delivery.due_at == moved.due_at


async def test_today_and_overdue_lists(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    assert (await chat.send("/today")).texts[0].startswith("🎉 今天没有待跟进的客户")
    assert (await chat.send("/overdue")).texts[0].startswith("👍 没有逾期的跟进")
    await schedule_one(harness, chat, "两小时后")
    await schedule_one(harness, chat, "下午5点 签约")
    reply = await chat.send("/today")
    assert reply.texts[0] == "📋 今天要跟进 2 位（按时间顺序）："
    assert reply.texts[1] == "11月25日 周三 11:00 · 王先生（新客户）\n📝 —"
    assert reply.texts[2] == "11月25日 周三 17:00 · 王先生（新客户）\n📝 签约"
    assert reply.sent[1].labels == ["✅ 完成", "⏰ 稍后", "📅 改时间", "👤 客户"]
    harness.clock.advance(timedelta(hours=3))
    reply = await chat.send("/overdue")
    assert reply.texts[0] == "⚠️ 有 1 个跟进已经逾期，越早联系越好："
    reply = await chat.press("✅ 完成", on=reply.sent[1])
    assert reply.edited[0].text.startswith("✅ 已完成跟进")


async def test_another_agents_buttons_are_refused_and_reveal_nothing(harness: Harness) -> None:
    owner, client_id = await agent_with_client(harness)
    saved = await schedule_one(harness, owner)
    intruder, _ = await agent_with_client(harness, user_id=2002, name="李小姐")
    minutes = int((harness.clock.now() + timedelta(days=1)).timestamp() // 60)
    for data in (
        f"fu:done:{saved.id}",
        f"fu:snooze:{saved.id}",
        f"fu:sz:{saved.id}:hour",
        f"fu:move:{saved.id}",
        f"fu:new:{client_id}",
        f"fu:acc:{client_id}:{minutes}",
        f"fu:ok:{client_id}",
        "fu:done:x",
        "fu:nothing:1",
    ):
        reply = await intruder.press_data(data)
        assert reply.toast == "这个按钮已经过期了，请用最新的消息操作。", data
        assert reply.sent == [] and reply.edited == [], data
    [still] = await follow_ups(harness)
    assert (still.status, still.due_at) == ("open", saved.due_at)
    assert [f.client_id for f in await follow_ups(harness)] == [client_id]


async def test_a_nudge_that_fell_due_while_the_bot_was_down_comes_late(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    harness.clock.set(saved.due_at + timedelta(hours=3))  # the bot was down through the due time
    await harness.restart()
    report = await engine_of(harness.app).sweep()
    assert (report.sent, report.late) == (1, 1)
    nudge = harness.api.chat_messages(chat.chat_id)[-1]
    assert "迟到的提醒：本应在 11月26日 周四 15:00 提醒你" in nudge.text


async def test_a_done_follow_up_sends_no_nudge(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    await chat.send("/today")
    reply = await chat.send("/overdue")
    assert reply.texts[0].startswith("👍")
    async with harness.services.sessions() as session, session.begin():
        follow_up = await session.get(FollowUp, saved.id)
        assert follow_up is not None
        follow_up.status = "done"
    harness.clock.set(saved.due_at)
    report = await engine_of(harness.app).sweep()
    assert (report.sent, report.cancelled) == (0, 1)


@pytest.mark.parametrize(
    ("zone", "start", "phrase", "due_utc"),
    [
        # New York falls back on 2026-11-01: 9am the next morning is 14:00 UTC, no longer 13:00.
        (
            "America/New_York",
            datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
            "tomorrow 9am",
            datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        ),
        # London springs forward on 2027-03-28: 9am that day is 08:00 UTC.
        (
            "Europe/London",
            datetime(2027, 3, 27, 12, 0, tzinfo=UTC),
            "tomorrow 9am",
            datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
        ),
    ],
)
async def test_nudges_keep_local_time_across_dst(
    harness: Harness, zone: str, start: datetime, phrase: str, due_utc: datetime
) -> None:
    harness.clock.set(start)
    chat, _ = await agent_with_client(harness, language_code="en")
    await chat.send(f"/settings tz {zone}")
    await hold_back_other_kinds(harness, "followup")  # the zone change rescheduled the daily prompts
    await chat.send(f"/followup 王先生 {phrase}")
    await chat.press("✅ Confirm")
    [saved] = await follow_ups(harness)
    assert saved.due_at == due_utc
    engine = engine_of(harness.app)
    harness.clock.set(due_utc - timedelta(minutes=1))
    assert (await engine.sweep()).sent == 0
    harness.clock.set(due_utc)
    assert (await engine.sweep()).sent == 1
    assert chat.messages()[-1].text.startswith("⏰ Follow up: 王先生")
