"""Two agents on the same days, through the handlers: each one's reflection, prompt, streak, journal and tip
rotation are their own, whatever the other did on that day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.models import Agent, Reflection
from bot.reflections import DONE, OPEN
from bot.tip_library import library
from runtime.delivery import engine_of
from tests.handlers.test_reflections import FIRST_QUESTION, agent, finish_day
from tests.handlers.test_tips import shown_tip
from tests.support import Harness

WED, SAT = date(2026, 11, 25), date(2026, 11, 28)
MOOD_QUESTION = "（2/6）今天的状态怎么样？1 很累 … 5 很棒"


async def reflections_by_agent(harness: Harness, day: date) -> dict[int, str]:
    """Telegram user id → the status of that agent's reflection on `day`."""
    async with harness.services.sessions() as session:
        rows = await session.execute(
            select(Agent.telegram_user_id, Reflection.status)
            .join(Agent, Agent.id == Reflection.agent_id)
            .where(Reflection.day == day)
        )
        return {user_id: status for user_id, status in rows.all()}


async def test_one_agents_finished_day_is_not_the_others(harness: Harness) -> None:
    first, second = await agent(harness, 1001), await agent(harness, 1002)
    for day in (26, 27, 28):  # Thursday to Saturday: the first agent reflects every day
        await finish_day(harness, first, date(2026, 11, day))
    # Saturday 21:00 in Hong Kong: the second agent has not reflected this week, so their check-in starts.
    reply = await second.send("/reflect")
    assert reply.texts == [FIRST_QUESTION]
    await second.press("3")
    assert await reflections_by_agent(harness, SAT) == {1001: DONE, 1002: OPEN}
    # Each /reflect answers about the agent's own Saturday: done for the first, resumed for the second.
    assert (await first.send("/reflect")).texts[0].startswith("2026年11月28日 周六 的复盘已经完成了")
    assert (await second.send("/reflect")).texts[0].startswith(MOOD_QUESTION)
    # Their journals and streaks are their own.
    assert (
        (await first.send("/journal"))
        .texts[0]
        .startswith("📔 我的复盘日记（3 天 · 第 1/1 页）\n🔥 连续复盘：3 个工作日")
    )
    assert (
        (await second.send("/journal"))
        .texts[0]
        .startswith("📔 我的复盘日记（1 天 · 第 1/1 页）\n🔥 连续复盘：0 个工作日")
    )
    # The second agent finishes: a first day, not the first agent's run of three.
    await second.press("😐 3")
    for _ in range(4):
        reply = await second.press("跳过这题")
    assert reply.texts[0] == "✅ 今天的复盘保存好了，辛苦了！\n🌱 好的开始：明天继续，就是连续复盘了。"
    assert (
        (await second.send("/journal"))
        .texts[0]
        .startswith("📔 我的复盘日记（1 天 · 第 1/1 页）\n🔥 连续复盘：1 个工作日")
    )
    assert await reflections_by_agent(harness, SAT) == {1001: DONE, 1002: DONE}


async def test_the_evening_prompt_comes_to_the_agent_who_has_not_reflected(harness: Harness) -> None:
    first, second = await agent(harness, 1001), await agent(harness, 1002)
    await finish_day(harness, first, WED)  # 21:00 in Hong Kong
    before = len(first.messages())
    harness.clock.set(datetime(2026, 11, 25, 13, 30, tzinfo=UTC))  # 21:30, the prompt time of both
    engine = engine_of(harness.app)
    while (await engine.sweep()).claimed:
        pass
    assert [m.text for m in first.messages()[before:]] == []  # done for the day: nothing more
    assert second.messages()[-1].text.startswith("📝 复盘时间到了（2026年11月25日 周三）")
    reply = await second.press("▶️ 开始", on=second.messages()[-1])
    assert reply.texts == [FIRST_QUESTION]


async def test_each_agents_second_tip_round_repeats_their_own_first(harness: Harness) -> None:
    """Both agents read one topic first, then the rest; the second round goes back to the oldest tips first."""
    chats = {1001: harness.chat(1001), 1002: harness.chat(1002)}
    topics = {1001: "self-management", 1002: "mindset"}
    first_round: dict[int, list[str]] = {user_id: [] for user_id in chats}
    for user_id, chat in chats.items():
        for _ in library().tips_in(topics[user_id]):
            first_round[user_id].append(shown_tip((await chat.send(f"/tip {topics[user_id]}")).last).id)
            harness.clock.advance(timedelta(minutes=1))
    for _ in range(len(library().tips) - min(len(library().tips_in(topic)) for topic in topics.values())):
        for user_id, chat in chats.items():
            if len(first_round[user_id]) < len(library().tips):
                first_round[user_id].append(shown_tip((await chat.send("/tip")).last).id)
        harness.clock.advance(timedelta(minutes=1))
    for user_id in chats:
        assert sorted(first_round[user_id]) == sorted(tip.id for tip in library().tips)
        read_first = {tip.id for tip in library().tips_in(topics[user_id])}
        assert set(first_round[user_id][: len(read_first)]) == read_first
    harness.clock.advance(timedelta(days=1))
    count = len(library().tips_in(topics[1001])) + 5
    for user_id, chat in chats.items():
        second_round = []
        for _ in range(count):
            second_round.append(shown_tip((await chat.send("/tip")).last).id)
            harness.clock.advance(timedelta(minutes=1))
        assert second_round == first_round[user_id][:count]
