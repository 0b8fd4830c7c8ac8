"""The reflection's day rules through the handlers, each with two or more agents so one agent's check-ins never
stand in for another's: before noon /reflect offers yesterday only while it is unfinished (and today not begun);
a skipped day can be taken up again from its first question; ⏭ Skip keeps what was answered and leaves a finished
day finished; ⏰ Later replaces an earlier Later and names the day it was pressed for, even after midnight on a
month's last day; the journal pages through more days than fit; the tip follows whichever answer was written.

Onboarding picks Hong Kong (UTC+8, no DST), reflection at 21:30, work days Monday to Saturday; the clock starts on
Wednesday 2026-11-25 09:00 there.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.models import Delivery, Reflection
from bot.reflections import LATER
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.handlers.test_reflections import FIRST_QUESTION, WHICH_DAY, agent, finish_day, prompt_now, send_voice
from tests.support import Harness

WED, THU = date(2026, 11, 25), date(2026, 11, 26)
SECOND_QUESTION = "（2/6）今天的状态怎么样"
OFFER_WEDNESDAY = "2026年11月25日 周三 " + WHICH_DAY
FINISH_WEDNESDAY = "📝 补 2026年11月25日 周三"


def hong_kong(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in Hong Kong (UTC+8 all year)."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC) - timedelta(hours=8)


async def reflection_of(harness: Harness, user_id: int, day: date) -> Reflection | None:
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session:
        found = await session.execute(select(Reflection).where(Reflection.agent_id == agent_id, Reflection.day == day))
        return found.scalar_one_or_none()


async def pending_later(harness: Harness, user_id: int) -> list[Delivery]:
    agent_id = (await harness.agent(user_id)).id
    async with harness.services.sessions() as session:
        query = select(Delivery).where(
            Delivery.agent_id == agent_id, Delivery.kind == LATER, Delivery.status == "pending"
        )
        return list((await session.execute(query)).scalars())


# ---------------------------------------------------------------------------------------------- which day


async def test_yesterday_is_offered_until_noon_and_today_from_noon(harness: Harness) -> None:
    early, late = await agent(harness, 1001), await agent(harness, 1002)
    harness.clock.set(hong_kong(THU, 11, 59, 59))
    assert (await early.send("/reflect")).texts == [OFFER_WEDNESDAY]
    assert (await early.press(FINISH_WEDNESDAY)).texts == [FIRST_QUESTION]
    harness.clock.set(hong_kong(THU, 12, 0))
    assert (await late.send("/reflect")).texts == [FIRST_QUESTION]
    assert await reflection_of(harness, 1001, WED) is not None and await reflection_of(harness, 1001, THU) is None
    assert await reflection_of(harness, 1002, THU) is not None and await reflection_of(harness, 1002, WED) is None


async def test_before_noon_only_an_unfinished_yesterday_is_offered(harness: Harness) -> None:
    """Four agents, four Wednesdays: finished, skipped, begun, untouched. On Thursday morning /reflect opens
    Thursday for the first two, and Wednesday for the other two (resumed where it stopped, or from the start)."""
    finished, skipped, begun, untouched = [await agent(harness, user_id) for user_id in (1001, 1002, 1003, 1004)]
    await finish_day(harness, finished, WED)
    await skipped.press_data("rf:skipday:2026-11-25:-")
    await begun.send("/reflect")
    await begun.send("2")
    await begun.send("/cancel")
    harness.clock.set(hong_kong(THU, 10, 0))
    assert (await finished.send("/reflect")).texts == [FIRST_QUESTION]
    assert (await skipped.send("/reflect")).texts == [FIRST_QUESTION]
    assert (await begun.send("/reflect")).texts == [OFFER_WEDNESDAY]
    assert (await begun.press(FINISH_WEDNESDAY)).texts[0].startswith(SECOND_QUESTION)
    assert (await untouched.send("/reflect")).texts == [OFFER_WEDNESDAY]
    assert (await untouched.press(FINISH_WEDNESDAY)).texts == [FIRST_QUESTION]
    assert [await reflection_of(harness, user_id, THU) is not None for user_id in (1001, 1002, 1003, 1004)] == [
        True,
        True,
        False,
        False,
    ]
    wednesday = await reflection_of(harness, 1003, WED)
    assert wednesday is not None and (wednesday.status, wednesday.clients, wednesday.step) == ("open", 2, "mood")
    assert await reflection_of(harness, 1004, WED) is not None


async def test_before_noon_a_begun_today_is_continued_rather_than_yesterday(harness: Harness) -> None:
    chat = await agent(harness, 1001)
    other = await agent(harness, 1002)
    agent_id = (await harness.agent(1001)).id
    harness.clock.set(hong_kong(THU, 9, 0))
    async with harness.services.sessions() as session, session.begin():  # Thursday's check-in, begun at 09:00
        now = harness.clock.now()
        session.add(
            Reflection(
                agent_id=agent_id,
                day=THU,
                status="open",
                step="mood",
                clients=3,
                voice={},
                created_at=now,
                updated_at=now,
            )
        )
    harness.clock.set(hong_kong(THU, 10, 0))
    assert (await chat.send("/reflect")).texts[0].startswith(SECOND_QUESTION)
    assert await reflection_of(harness, 1001, WED) is None  # Wednesday stays unreflected
    assert (await other.send("/reflect")).texts == [OFFER_WEDNESDAY]  # the other agent's Thursday is not begun
    await other.press(FINISH_WEDNESDAY)
    assert await reflection_of(harness, 1002, WED) is not None


# ---------------------------------------------------------------------------------------------- skip, and back


async def test_a_skipped_day_taken_up_again_starts_at_the_first_question_and_keeps_a_voice_note(
    harness: Harness,
) -> None:
    chat = await agent(harness)
    await prompt_now(harness, chat)
    await chat.press("⏭ 今天跳过")
    harness.clock.advance(timedelta(minutes=5))
    assert (await chat.send("/reflect")).texts == [FIRST_QUESTION]
    reflection = await reflection_of(harness, 1001, WED)
    assert reflection is not None
    assert (reflection.status, reflection.step, reflection.updated_at) == ("open", "clients", harness.clock.now())
    await chat.press("3")
    await chat.press("😐 3")
    harness.clock.advance(timedelta(minutes=2))
    reply = await send_voice(harness, chat, seconds=20)
    assert reply.texts == ["🎙 收到你的语音（20 秒），已经保存。", "（4/6）今天哪里不顺、哪里还要改进？"]
    reflection = await reflection_of(harness, 1001, WED)
    assert reflection is not None and list(reflection.voice) == ["went_well"]
    assert (reflection.clients, reflection.mood, reflection.updated_at) == (3, 3, harness.clock.now())


async def test_skip_keeps_the_answers_given_and_leaves_the_other_agent_alone(harness: Harness) -> None:
    chat, other = await agent(harness, 1001), await agent(harness, 1002)
    for each in (chat, other):
        await each.send("/reflect")
        await each.send("4")
    harness.clock.advance(timedelta(minutes=3))
    reply = await chat.press_data("rf:skipday:2026-11-25:-")
    assert reply.edited[0].text == "⏭ 好的，2026年11月25日 周三 的复盘跳过了，今天不会再提醒你。"
    mine = await reflection_of(harness, 1001, WED)
    assert mine is not None and (mine.status, mine.clients, mine.updated_at) == ("skipped", 4, harness.clock.now())
    theirs = await reflection_of(harness, 1002, WED)
    assert theirs is not None and (theirs.status, theirs.clients, theirs.step) == ("open", 4, "mood")
    assert (await other.send("3")).texts[0].startswith("（3/6）")  # still answering


async def test_skip_after_finishing_leaves_the_day_finished(harness: Harness) -> None:
    chat = await agent(harness)
    await prompt_now(harness, chat)
    prompt = chat.messages()[-1]
    await finish_day(harness, chat, WED)
    reply = await chat.press("⏭ 今天跳过", on=prompt)
    assert reply.edited[0].text.startswith("2026年11月25日 周三 的复盘已经完成了")
    reflection = await reflection_of(harness, 1001, WED)
    assert reflection is not None and reflection.status == "done"


# ---------------------------------------------------------------------------------------------- later


async def test_later_pressed_again_moves_the_reminder_and_never_doubles_it(harness: Harness) -> None:
    chat, other = await agent(harness, 1001), await agent(harness, 1002)
    harness.clock.set(hong_kong(WED, 21, 30))
    assert (await engine_of(harness.app).sweep()).sent == 2  # both agents' prompts
    await other.press_data("rf:later:2026-11-25:-")
    await chat.press("⏰ 1小时后")
    harness.clock.advance(timedelta(minutes=20))
    reply = await chat.press_data("rf:later:2026-11-25:-")  # the same prompt's button again, 20 minutes on
    assert reply.edited[0].text == "⏰ 好的，11月25日 周三 22:50 再提醒你复盘。"
    [mine] = await pending_later(harness, 1001)
    assert mine.due_at == hong_kong(WED, 22, 50)
    [theirs] = await pending_later(harness, 1002)
    assert theirs.due_at == hong_kong(WED, 22, 30)


async def test_later_after_midnight_on_a_months_last_day_still_names_that_day(harness: Harness) -> None:
    monday = date(2026, 11, 30)
    harness.clock.set(hong_kong(monday, 20, 0))
    chat = await agent(harness)
    await prompt_now(harness, chat, hong_kong(monday, 21, 30))
    harness.clock.set(hong_kong(monday, 23, 40))
    reply = await chat.press("⏰ 1小时后")
    assert reply.edited[0].text == "⏰ 好的，12月1日 周二 00:40 再提醒你复盘。"
    harness.clock.set(hong_kong(date(2026, 12, 1), 0, 40))
    assert (await engine_of(harness.app).sweep()).sent == 1
    assert chat.messages()[-1].text == "📝 一小时到了，现在来复盘一下吗？（2026年11月30日 周一）"
    assert (await chat.press("▶️ 开始")).texts == [FIRST_QUESTION]
    assert await reflection_of(harness, 1001, monday) is not None
    assert await reflection_of(harness, 1001, date(2026, 12, 1)) is None


# ---------------------------------------------------------------------------------------------- journal, tip


async def test_the_journal_pages_through_the_agents_own_days_newest_first(harness: Harness) -> None:
    chat, other = await agent(harness, 1001), await agent(harness, 1002)
    mine, theirs = (await harness.agent(1001)).id, (await harness.agent(1002)).id
    days = [date(2026, 11, 16) + timedelta(days=n) for n in range(9)]  # Monday 16 to Tuesday 24 November
    now = harness.clock.now()
    async with harness.services.sessions() as session, session.begin():
        for day in days:
            session.add(Reflection(agent_id=mine, day=day, status="done", voice={}, created_at=now, updated_at=now))
        for day in days[:3]:
            session.add(Reflection(agent_id=theirs, day=day, status="done", voice={}, created_at=now, updated_at=now))
    reply = await chat.send("/journal")
    assert reply.texts[0].startswith("📔 我的复盘日记（9 天 · 第 1/2 页）")
    assert reply.last.labels == [
        "2026年11月24日 周二 ",
        "2026年11月23日 周一 ",
        "2026年11月22日 周日 ",
        "2026年11月21日 周六 ",
        "2026年11月20日 周五 ",
        "2026年11月19日 周四 ",
        "2026年11月18日 周三 ",
        "下一页 ▶️",
    ]
    reply = await chat.press("下一页 ▶️")
    assert reply.edited[0].text.startswith("📔 我的复盘日记（9 天 · 第 2/2 页）")
    assert reply.edited[0].labels == ["2026年11月17日 周二 ", "2026年11月16日 周一 ", "◀️ 上一页"]
    reply = await other.send("/journal")
    assert reply.texts[0].startswith("📔 我的复盘日记（3 天 · 第 1/1 页）")


ANGRY = "客户嫌贵，跟我吵了一架，我没控制好脾气，很生气"


@pytest.mark.parametrize(
    ("written", "mood", "topic"),
    [
        ({"went_well": "今天给老客户回电话，约好了下周带看"}, "😐 3", "follow-up"),
        ({"to_improve": ANGRY}, "😐 3", "mindset"),
        ({"lesson": ANGRY}, "😐 3", "mindset"),
        ({"tomorrow": "明天给王姐回电话"}, "😐 3", "follow-up"),
        ({"to_improve": "客户砍价砍得太狠，我不知道怎么接"}, "😐 3", "objections"),  # issue 17: 砍价 has its tips now
        ({"lesson": "跟同事撞单了，下次要先报备"}, "😐 3", "compliance"),
        ({}, "😞 1", "mindset"),  # nothing written, a bad day: still a tip for the mood
    ],
)
async def test_the_tip_follows_the_one_answer_that_was_written(
    harness: Harness, written: dict[str, str], mood: str, topic: str
) -> None:
    """Whichever single answer holds the words, the tip (and ➡️ another one) comes from that topic."""
    chat = await agent(harness)
    await chat.send("/reflect")
    await chat.press("跳过这题")
    await chat.press(mood)
    for question in ("went_well", "to_improve", "lesson", "tomorrow"):
        if question in written:
            reply = await chat.send(written[question])
        else:
            reply = await chat.press("跳过这题")
    tip = reply.sent[-1]
    assert tip.text.startswith("💡 ")
    assert tip.data_for("➡️ 再来一条").endswith(f":{topic}")
    from bot.tip_library import library

    reflection = await reflection_of(harness, 1001, WED)
    assert reflection is not None and reflection.status == "done"
    found = library().tip(reflection.tip_id or "")
    assert found is not None and topic in found.topics


async def test_no_words_and_a_fair_mood_get_the_general_rotation(harness: Harness) -> None:
    chat: LocalChat = await agent(harness)
    await chat.send("/reflect")
    await chat.press("跳过这题")
    await chat.press("😐 3")
    for _ in range(4):
        reply = await chat.press("跳过这题")
    assert reply.sent[-1].data_for("➡️ 再来一条").endswith(":-")


async def test_a_voice_note_replacing_an_answer_of_today_is_kept_and_dated(harness: Harness) -> None:
    """Editing today's finished check-in by voice: the note is kept for that answer and the entry is marked as
    changed now (no question follows it to do so)."""
    chat, other = await agent(harness, 1001), await agent(harness, 1002)
    for each in (chat, other):
        await finish_day(harness, each, WED)
    harness.clock.advance(timedelta(minutes=40))
    reply = await chat.send("/journal")
    await chat.press("2026年11月25日 周三 ", on=reply.last)
    assert (await chat.press("✏️ 做得好的")).texts == ["✏️ 改“做得好的”：输入新的内容。"]
    reply = await send_voice(harness, chat, seconds=8)
    assert reply.texts[0] == "🎙 收到你的语音（8 秒），已经保存。"
    assert "🎙 语音" in reply.texts[1]
    mine = await reflection_of(harness, 1001, WED)
    assert mine is not None and list(mine.voice) == ["went_well"]
    assert (mine.status, mine.updated_at) == ("done", harness.clock.now())
    theirs = await reflection_of(harness, 1002, WED)
    assert theirs is not None and theirs.voice == {} and theirs.updated_at < harness.clock.now()
