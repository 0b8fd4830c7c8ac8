"""Numbers, times of day and moods typed the way agents say them, through the handlers, on both backends: the
reflection time at onboarding ("晚上九点半"), a setting ("下午三点一刻"), the client count ("three", "3 clients",
"两个"), the mood ("四", "还行吧", "😊", "great"); punctuation alone is asked again and stores nothing; /reflect at
00:20 with yesterday unfinished names both days and lets the agent choose.

The clock starts on Wednesday 2026-11-25 09:00 in Shanghai; `agent` onboards in Hong Kong (UTC+8), reflection
at 21:30, work days Monday to Saturday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.models import Reflection
from tests.handlers.test_reflection_rules import hong_kong, reflection_of
from tests.handlers.test_reflections import FIRST_QUESTION, agent
from tests.support import Harness

WED, THU = date(2026, 11, 25), date(2026, 11, 26)
MOOD_QUESTION = "（2/6）今天的状态怎么样？1 很累 … 5 很棒"
TEXT_QUESTION = "（3/6）今天哪件事做得好？写一两句（也可以发语音）。"


async def test_onboarding_takes_the_reflection_time_in_chinese_numerals(harness: Harness) -> None:
    chat = harness.chat()
    other = harness.chat(user_id=1002)
    for who in (chat, other):
        await who.send("/start")
        await who.press("简体中文")
        await who.press(who.last_with_buttons().labels[1])  # type: ignore[union-attr]  # a city
    refused = await other.send("9")  # a bare number: 09:00 or 21:00? asked again
    assert (await harness.agent(1002)).setup_step == "reflection"
    assert refused.texts and "21:30" in refused.texts[-1]
    reply = await chat.send("晚上九点半")
    assert any("21:30" in text for text in reply.texts)
    assert (await harness.agent(1001)).reflection_time == time(21, 30)
    assert (await harness.agent(1001)).setup_step != "reflection"
    assert (await harness.agent(1002)).reflection_time != time(21, 30)


@pytest.mark.parametrize(
    ("line", "field", "stored"),
    [
        ("/settings tip 下午三点一刻", "tip_time", time(15, 15)),
        ("/settings reflect 晚上九點半", "reflection_time", time(21, 30)),
        ("/settings followup 早上七点", "followup_time", time(7, 0)),
        ("/settings digest 周日 晚上八点三刻", "digest_time", time(20, 45)),
        ("/settings tip half past nine pm", "tip_time", time(21, 30)),
        ("/settings tip noon", "tip_time", time(12, 0)),
    ],
)
async def test_settings_take_a_time_of_day_however_it_is_said(
    harness: Harness, line: str, field: str, stored: time
) -> None:
    chat = await agent(harness)
    reply = await chat.send(line)
    assert reply.texts[0].startswith("✅ 已更新")
    assert f"{stored.hour:02d}:{stored.minute:02d}" in reply.texts[0]
    assert getattr(await harness.agent(), field) == stored


async def test_a_setting_refuses_a_bare_number_and_changes_nothing(harness: Harness) -> None:
    chat = await agent(harness)
    before = (await harness.agent()).tip_time
    reply = await chat.send("/settings tip 三")
    assert "请输入时间" in reply.texts[0]
    assert (await harness.agent()).tip_time == before


async def answer_first_two(harness: Harness, clients: str, mood: str, user_id: int = 1001) -> Reflection:
    chat = await agent(harness, user_id)
    harness.clock.set(hong_kong(WED, 21, 40))
    assert (await chat.send("/reflect")).texts == [FIRST_QUESTION]
    assert (await chat.send(clients)).texts[0] == MOOD_QUESTION
    assert (await chat.send(mood)).texts[0] == TEXT_QUESTION
    reflection = await reflection_of(harness, user_id, WED)
    assert reflection is not None
    return reflection


@pytest.mark.parametrize(
    ("clients", "count", "mood", "score"),
    [
        ("three", 3, "四", 4),
        ("3 clients", 3, "还行吧", 3),
        ("两个", 2, "😊", 4),
        ("兩個", 2, "great", 5),
        ("十二个", 12, "4分", 4),
    ],
)
async def test_reflection_counts_and_moods_in_words(
    harness: Harness, clients: str, count: int, mood: str, score: int
) -> None:
    reflection = await answer_first_two(harness, clients, mood)
    assert (reflection.clients, reflection.mood) == (count, score)


@pytest.mark.parametrize(("clients", "mood"), [("三四个", "3"), ("很多", "4"), ("3", "😊 😭"), ("3", "好的")])
async def test_a_range_or_an_unclear_mood_is_asked_again(harness: Harness, clients: str, mood: str) -> None:
    chat = await agent(harness)
    harness.clock.set(hong_kong(WED, 21, 40))
    await chat.send("/reflect")
    if clients != "3":
        assert (await chat.send(clients)).texts == ["请输入一个数字，比如 3（或点上面的按钮）。"]
        assert (await reflection_of(harness, 1001, WED)).clients is None  # type: ignore[union-attr]
        return
    await chat.send(clients)
    assert (await chat.send(mood)).texts == ["请输入 1 到 5 之间的数字（或点上面的按钮）。"]
    assert (await reflection_of(harness, 1001, WED)).mood is None  # type: ignore[union-attr]


@pytest.mark.parametrize("typed", ["。", "-", "…", "——", ".", " ～ "])
async def test_punctuation_alone_is_asked_again_and_nothing_is_stored(harness: Harness, typed: str) -> None:
    chat = await agent(harness)
    await answer_first_two(harness, "3", "4", user_id=1002)  # another agent, at the same question
    harness.clock.set(hong_kong(WED, 21, 40))
    await chat.send("/reflect")
    await chat.send("3")
    await chat.send("4")
    reply = await chat.send(typed)
    assert reply.texts == ["写一两句就好（最多 1000 字），或点“跳过这题”。"]
    reflection = await reflection_of(harness, 1001, WED)
    assert reflection is not None and (reflection.went_well, reflection.step) == (None, "went_well")
    assert (await chat.send("无")).texts[0].startswith("（4/6）")  # "nothing" is an answer, kept
    assert (await reflection_of(harness, 1001, WED)).went_well == "无"  # type: ignore[union-attr]


async def test_reflect_just_after_midnight_offers_the_day_that_just_ended(harness: Harness) -> None:
    chat, done = await agent(harness), await agent(harness, 1002)
    harness.clock.set(hong_kong(WED, 21, 40))
    await chat.send("/reflect")
    await chat.send("2")  # Wednesday begun, then left
    await done.send("/reflect")
    for _ in range(6):
        await done.press("跳过这题")
    harness.clock.set(hong_kong(THU, 0, 20))
    offer = await chat.send("/reflect")
    assert offer.texts == ["2026年11月25日 周三 的复盘还没做完。补上那天的，还是开始今天的？"]
    assert offer.last.labels == ["📝 补 2026年11月25日 周三", "▶️ 今天 2026年11月26日 周四"]
    assert (await chat.press("📝 补 2026年11月25日 周三")).texts[0] == MOOD_QUESTION
    assert (await done.send("/reflect")).texts == [FIRST_QUESTION]  # Wednesday finished: Thursday, no question
    assert await reflection_of(harness, 1001, THU) is None
    assert (await reflection_of(harness, 1002, THU)) is not None


async def test_the_tip_after_a_reflection_is_for_tomorrow(harness: Harness) -> None:
    chat = await agent(harness)
    harness.clock.set(hong_kong(WED, 21, 40))
    await chat.send("/reflect")
    for _ in range(5):
        await chat.press("跳过这题")
    end = await chat.press("跳过这题")
    tip = end.texts[-1]
    assert "明天试试" in tip and "今天试试" not in tip
    harness.clock.set(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    assert "今天试试" in (await chat.send("/tip")).texts[-1]  # a tip asked for in the day is still for today
