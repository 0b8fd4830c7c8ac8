"""Coaching tips through the handlers: /tip, rotation and ratings, topics in three languages, saved tips, the
source passage, and the daily tip delivered by the scheduling engine (on time, on work days, off and on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.i18n import EN
from bot.models import Delivery, TipState
from bot.recurring import DAILY_TIP, ensure_scheduled
from bot.tip_library import Tip, library
from handlers.tips import tip_buttons
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Shown
from tests.handlers.test_onboarding import onboard
from tests.support import Harness, hold_back_other_kinds

TIP_BUTTONS = ["👍 有用", "👎 没用", "⭐ 收藏", "➡️ 再来一条", "📚 主题", "📖 原文"]


def shown_tip(message: Shown) -> Tip:
    """Which library tip a message shows (by its callback data, as the bot itself reads it)."""
    [tip_id] = {data.split(":")[2] for row in message.buttons for _, data in row if data.startswith("tip:up:")}
    tip = library().tip(tip_id)
    assert tip is not None
    return tip


async def states(harness: Harness, user_id: int = 1001) -> dict[str, TipState]:
    agent = await harness.agent(user_id)
    async with harness.services.sessions() as session:
        rows = (await session.execute(select(TipState).where(TipState.agent_id == agent.id))).scalars()
        return {row.tip_id: row for row in rows}


async def tip_deliveries(harness: Harness, status: str | None = None) -> list[Delivery]:
    async with harness.services.sessions() as session:
        query = select(Delivery).where(Delivery.kind == DAILY_TIP).order_by(Delivery.id)
        if status:
            query = query.where(Delivery.status == status)
        return list((await session.execute(query)).scalars())


async def test_a_tip_with_its_action_source_and_buttons(harness: Harness) -> None:
    chat = harness.chat()
    reply = await chat.send("/tip")
    [message] = reply.sent
    tip = shown_tip(message)
    words = tip.zh_hans
    assert message.text.startswith(f"💡 {words.title}\n\n{words.text}\n\n👉 今天试试：{words.try_today}")
    assert f"📖 出自第 {tip.source.summary} 篇总结 · 第 " in message.text
    assert message.labels == TIP_BUTTONS
    assert all(len(data.encode()) <= 64 for row in message.buttons for _, data in row)
    seen = await states(harness)
    assert set(seen) == {tip.id} and seen[tip.id].shown == 1
    harness.assert_all_text_from_catalogs()


async def test_every_tip_once_before_any_repeat(harness: Harness) -> None:
    chat = harness.chat()
    total = len(library().tips)
    ids = []
    for _ in range(total):
        ids.append(shown_tip((await chat.send("/tip")).last).id)
    assert sorted(ids) == sorted(tip.id for tip in library().tips)  # each exactly once
    again = shown_tip((await chat.press("➡️ 再来一条")).last).id
    assert again in ids and sum(state.shown for state in (await states(harness)).values()) == total + 1


async def test_two_agents_walk_the_library_in_different_orders(harness: Harness) -> None:
    first = [shown_tip((await harness.chat(1001).send("/tip")).last).id for _ in range(5)]
    second = [shown_tip((await harness.chat(1002).send("/tip")).last).id for _ in range(5)]
    assert first != second


async def test_ratings_change_what_comes_next(harness: Harness) -> None:
    chat = harness.chat()
    total = len(library().tips)
    for number in range(total):
        message = (await chat.send("/tip")).last
        if number == 0:
            liked = shown_tip(message).id
            reply = await chat.press("👍 有用", on=message)
            assert reply.toast == "👍 记下了，这类贴士以后多给你推。"
            assert reply.edited[0].labels[0] == "✓ 👍 有用"
        if number == 1:
            disliked = shown_tip(message).id
            reply = await chat.press("👎 没用", on=message)
            assert reply.toast == "👎 收到，这条以后不再推给你。"
    # The second round starts with the liked tip and never shows the disliked one.
    second_round = [shown_tip((await chat.send("/tip")).last).id for _ in range(total)]
    assert second_round[0] == liked
    assert disliked not in second_round
    assert second_round.count(liked) == 2  # a liked tip comes round twice as often
    seen = await states(harness)
    assert (seen[liked].rating, seen[disliked].rating) == (1, -1)


async def test_pressing_a_rating_again_takes_it_back(harness: Harness) -> None:
    chat = harness.chat()
    message = (await chat.send("/tip")).last
    await chat.press("👍 有用", on=message)
    reply = await chat.press("👍 有用", on=message)
    assert reply.toast == "已取消评价。"
    assert reply.edited[0].labels == TIP_BUTTONS
    assert (await states(harness))[shown_tip(message).id].rating == 0


async def test_save_then_find_it_in_saved(harness: Harness) -> None:
    chat = harness.chat()
    assert (await chat.send("/saved")).texts == ["还没有收藏的贴士。看到有用的，点 ⭐ 收藏，它就会出现在这里。"]
    message = (await chat.send("/tip")).last
    tip = shown_tip(message)
    reply = await chat.press("⭐ 收藏", on=message)
    assert reply.toast == "⭐ 已收藏，发 /saved 随时查看。"
    assert reply.edited[0].labels[2] == "✓ ⭐ 收藏"
    reply = await chat.send("/saved")
    assert reply.texts == ["⭐ 你收藏的贴士（1 条 · 第 1/1 页）\n点开再看一遍："]
    assert reply.last.labels == [f"⭐ {tip.zh_hans.title}"]
    reopened = (await chat.press(f"⭐ {tip.zh_hans.title}")).last
    assert shown_tip(reopened) == tip and reopened.labels[2] == "✓ ⭐ 收藏"
    assert (await states(harness))[tip.id].shown == 1  # reading a saved tip again is not a new showing
    await chat.press("⭐ 收藏", on=reopened)
    assert (await chat.send("/saved")).texts[0].startswith("还没有收藏的贴士")


async def test_saved_tips_are_paged(harness: Harness) -> None:
    chat = harness.chat()
    for _ in range(10):
        await chat.press("⭐ 收藏", on=(await chat.send("/tip")).last)
    reply = await chat.send("/saved")
    assert reply.texts[0].startswith("⭐ 你收藏的贴士（10 条 · 第 1/2 页）")
    assert len(reply.last.labels) == 9 and reply.last.labels[-1] == "下一页 ▶️"
    reply = await chat.press("下一页 ▶️")
    assert reply.edited[0].text.startswith("⭐ 你收藏的贴士（10 条 · 第 2/2 页）")
    assert reply.edited[0].labels[-1] == "◀️ 上一页" and len(reply.edited[0].labels) == 3


@pytest.mark.parametrize(
    ("language_code", "query"),
    [
        ("zh-hans", "跟进"),
        ("zh-hans", "回访"),
        ("zh-hant", "跟進"),
        ("zh-hant", "關係維護"),
        ("en", "follow-up"),
        ("en", "Follow up"),
        ("en", "relationships"),
    ],
)
async def test_a_topic_by_name_in_any_language(harness: Harness, language_code: str, query: str) -> None:
    chat = harness.chat(language_code=language_code)
    expected = library().find_topic(query)
    assert expected is not None
    for _ in range(3):
        message = (await chat.send(f"/tip {query}")).last
        tip_id = message.buttons[0][0][1].split(":")[2]
        tip = library().tip(tip_id)
        assert tip is not None and expected.id in tip.topics
    harness.assert_all_text_from_catalogs()


TEAMS_OWN = "objection-no-solo-discounts"  # source: {team: true}; topics: objections, teamwork


@pytest.mark.parametrize(
    ("language_code", "line", "note"),
    [
        (
            "zh-hans",
            "📖 教练团队的经验 · 异议与议价 · 团队",
            "📖 这条贴士是我们教练团队自己的经验，不出自那五篇销售总结，所以没有原文可看。",
        ),
        (
            "en",
            "📖 From our coaching team · objections · teamwork",
            "📖 This tip is our coaching team's own advice, not taken from the five sales summaries, so there is no"
            " source passage to show.",
        ),
        (
            "zh-hant",
            "📖 教練團隊的經驗 · 異議與議價 · 團隊",
            "📖 這條貼士是我們教練團隊自己的經驗，不出自那五篇銷售總結，所以沒有原文可看。",
        ),
    ],
)
async def test_a_teams_own_tip_says_so_instead_of_a_passage(
    harness: Harness, language_code: str, line: str, note: str
) -> None:
    """Opened as /saved and the weekly digest open a tip, it names the team as its source and has no 📖 button (a
    passage it does not have); a 📖 pressed on an older message of it answers honestly that there is none."""
    chat = harness.chat(language_code=language_code)
    await chat.send("/tip")
    message = (await chat.press_data(f"tip:open:{TEAMS_OWN}:-")).last
    assert shown_tip(message).id == TEAMS_OWN and message.text.endswith(line)
    assert not [label for label in message.labels if label.startswith("📖")]
    assert (await chat.press_data(f"tip:src:{TEAMS_OWN}:-")).texts == [note]
    harness.assert_all_text_from_catalogs()


def test_every_tip_fits_its_buttons_from_each_of_its_topics() -> None:
    """Tip ids and topic ids travel together in callback data, which holds 64 bytes."""
    for tip in library().tips:
        for topic in [*tip.topics, None]:
            rows = tip_buttons(EN, tip, None, topic, daily=True)  # packing raises past 64 bytes
            assert all(len(data.encode()) <= 64 for row in rows for _, data in row)


async def test_an_unknown_topic_gets_the_topic_list(harness: Harness) -> None:
    chat = harness.chat()
    reply = await chat.send("/tip 天气预报")
    assert reply.texts == ["没有找到“天气预报”这个主题。选一个吧："]
    lib = library()
    assert reply.last.labels == [
        f"{topic.emoji} {topic.names['zh-Hans']} · {len(lib.tips_in(topic.id))}" for topic in lib.topics
    ]
    assert await states(harness) == {}


async def test_topics_then_another_stays_on_the_topic(harness: Harness) -> None:
    chat = harness.chat(language_code="en")
    reply = await chat.send("/topics")
    assert reply.texts[0].startswith("📚 Which topic?")
    assert f"🏘 listings & market · {len(library().tips_in('market'))}" in reply.last.labels  # labels are not HTML
    follow_up = library().topic("follow-up")
    assert follow_up is not None
    label = f"📅 follow-up · {len(library().tips_in('follow-up'))}"
    first = (await chat.press(label)).last
    second = (await chat.press("➡️ Another", on=first)).last
    one, two = shown_tip(first), shown_tip(second)
    assert one != two and "follow-up" in one.topics and "follow-up" in two.topics


async def test_when_a_topic_has_nothing_left_the_agent_can_pick_another(harness: Harness) -> None:
    chat = harness.chat()
    topic = min(library().topics, key=lambda t: len(library().tips_in(t.id)))
    for _ in library().tips_in(topic.id):
        await chat.press("👎 没用", on=(await chat.send(f"/tip {topic.id}")).last)
    reply = await chat.send(f"/tip {topic.id}")
    assert reply.texts == ["这个主题的贴士你都看过了，点了 👎 的不会再出现。换个主题看看？"]
    assert len(reply.last.labels) == len(library().topics)


@pytest.mark.parametrize("language_code", ["zh-hans", "en", "zh-hant"])
async def test_the_source_passage_in_the_agents_language(harness: Harness, language_code: str) -> None:
    chat = harness.chat(language_code=language_code)
    message = (await chat.send("/tip")).last
    tip = library().tip(message.buttons[0][0][1].split(":")[2])
    assert tip is not None
    found = tip.source.passage()
    assert found is not None
    [label] = [label for label in message.labels if label.startswith("📖")]
    [source] = (await chat.press(label, on=message)).texts
    if language_code == "en":
        assert source.endswith(found.shown_en) and source.startswith(f"📖 From summary {tip.source.summary}")
    elif language_code == "zh-hans":
        assert source.endswith(found.shown_zh)
    else:
        shown = library().traditional[f"passage.{found.address}"]
        assert source.endswith(shown) and not source.endswith(found.shown_zh)
    harness.assert_all_text_from_catalogs()


@pytest.mark.parametrize("language_code", ["zh-hans", "en", "zh-hant"])
async def test_the_self_confidence_tip_shows_the_self_confidence_point_without_its_copy_of_point_3(
    harness: Harness, language_code: str
) -> None:
    chat = harness.chat(language_code=language_code)
    await chat.send("/tip")
    opened = (await chat.press_data("tip:open:mindset-build-confidence:-")).last
    [label] = [label for label in opened.labels if label.startswith("📖")]
    [source] = (await chat.press(label, on=opened)).texts
    own = {
        "zh-hans": "4、自信心——这一点很重要",
        "en": "4. Self-confidence. This is very important",
        "zh-hant": "4、自信心——這一點很重要",
    }
    assert own[language_code] in source and source.endswith("[…]")
    # Point 3's words (the writer repeated them under point 4) are not shown again, nor the translator's note.
    assert not any(repeat in source for repeat in ("抓住不放", "hold on to them", "[TN"))


@pytest.mark.parametrize(
    "data", ["tip:up:no-such-tip:-", "tip:src:x:-", "tip:save:../../etc:-", "tip:up", "tip:zap:x:-", "tip:saved:-:x"]
)
async def test_forged_or_stale_buttons_are_refused_politely(harness: Harness, data: str) -> None:
    chat = harness.chat()
    await chat.send("/tip")
    reply = await chat.press_data(data)
    assert reply.toast in ("这条贴士已经不在了。发 /tip 看看新的。", "这个按钮已经过期了，请用最新的消息操作。")
    assert reply.sent == [] and sum(state.rating for state in (await states(harness)).values()) == 0


# ---------------------------------------------------------------------------------------------- daily tip


async def onboarded(harness: Harness, user_id: int = 1001, zone_line: str | None = None) -> LocalChat:
    chat = harness.chat(user_id=user_id)
    await onboard(chat)  # the daily tip at 08:30 on work days Mon–Sat
    if zone_line:
        await chat.send(f"/settings tz {zone_line}")
    await hold_back_other_kinds(harness, DAILY_TIP, "followup")
    return chat


async def test_the_daily_tip_arrives_at_the_agents_time_and_schedules_the_next(harness: Harness) -> None:
    chat = await onboarded(harness)
    agent = await harness.agent()
    assert (agent.timezone, agent.work_days) == ("Asia/Hong_Kong", "123456")
    # Wed 25 Nov 09:00 in Hong Kong: today's 08:30 has passed, so Thursday 08:30 (00:30 UTC).
    [waiting] = await tip_deliveries(harness, "pending")
    assert waiting.due_at == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
    engine = engine_of(harness.app)
    harness.clock.set(waiting.due_at - timedelta(seconds=1))
    assert (await engine.sweep()).sent == 0
    harness.clock.set(waiting.due_at)
    assert (await engine.sweep()).sent == 1
    daily = chat.messages()[-1]
    assert daily.text.startswith("☀️ 今日贴士\n\n💡 ")
    assert daily.labels == [*TIP_BUTTONS, "🔕 关闭每日贴士"]
    tip = shown_tip(daily)
    assert (await states(harness))[tip.id].shown == 1
    [sent] = await tip_deliveries(harness, "sent")
    assert sent.subject_key == tip.id
    [following] = await tip_deliveries(harness, "pending")
    assert following.due_at == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    assert (await engine.sweep()).claimed == 0  # once a day, never twice
    # Rating from the daily tip keeps its own row of buttons.
    reply = await chat.press("👍 有用", on=daily)
    assert reply.edited[0].labels[-1] == "🔕 关闭每日贴士" and reply.edited[0].labels[0] == "✓ 👍 有用"


async def test_no_daily_tip_on_a_day_off(harness: Harness) -> None:
    await onboarded(harness)
    engine = engine_of(harness.app)
    # Sat 28 Nov is a work day, Sun 29 is not: after Saturday's tip the next is Monday's.
    harness.clock.set(datetime(2026, 11, 28, 0, 30, tzinfo=UTC))
    for _ in range(3):  # Thu, Fri, Sat were all due by now: one late tip goes out, not three
        await engine.sweep()
    sent = await tip_deliveries(harness, "sent")
    assert len(sent) == 1 and sent[0].late
    [following] = await tip_deliveries(harness, "pending")
    assert following.due_at == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # Monday 08:30 in Hong Kong


async def test_daily_tip_in_another_time_zone_follows_its_clock(harness: Harness) -> None:
    await onboarded(harness, zone_line="America/New_York")
    [waiting] = await tip_deliveries(harness, "pending")
    # Tue 24 Nov 20:00 in New York: next is Wed 25 Nov 08:30 EST = 13:30 UTC.
    assert waiting.due_at == datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
    assert len(await tip_deliveries(harness, "cancelled")) == 1  # the Hong Kong one it replaced


async def test_turn_the_daily_tip_off_from_the_tip_and_back_on(harness: Harness) -> None:
    chat = await onboarded(harness)
    [waiting] = await tip_deliveries(harness, "pending")
    harness.clock.set(waiting.due_at)
    await engine_of(harness.app).sweep()
    daily = chat.messages()[-1]
    reply = await chat.press("🔕 关闭每日贴士", on=daily)
    assert reply.texts == ["🔕 每日贴士已关闭。想恢复，点下面的按钮，或发 /settings tip 08:30。"]
    assert (await harness.agent()).tip_time is None
    assert await tip_deliveries(harness, "pending") == []
    reply = await chat.press("🔔 恢复每日贴士（08:30）")
    assert reply.edited[0].text == "🔔 每日贴士已恢复：每个工作日 08:30 发给你。"
    [again] = await tip_deliveries(harness, "pending")
    assert again.due_at == datetime(2026, 11, 27, 0, 30, tzinfo=UTC)
    await chat.press("🔕 关闭每日贴士", on=daily)
    assert (await chat.press("🔕 关闭每日贴士", on=daily)).toast == "每日贴士已经是关闭的。"


async def test_changing_the_tip_time_moves_the_waiting_tip(harness: Harness) -> None:
    chat = await onboarded(harness)
    await chat.send("/settings tip 07:15")
    [waiting] = await tip_deliveries(harness, "pending")
    assert waiting.due_at == datetime(2026, 11, 25, 23, 15, tzinfo=UTC)  # Thu 07:15 in Hong Kong
    await chat.send("/settings tip off")
    assert await tip_deliveries(harness, "pending") == []
    await chat.send("/settings workdays 1-5")
    assert await tip_deliveries(harness, "pending") == []  # still off


async def test_a_retried_daily_tip_sends_the_same_tip_and_counts_it_once(harness: Harness) -> None:
    chat = await onboarded(harness)
    [waiting] = await tip_deliveries(harness, "pending")
    harness.clock.set(waiting.due_at)
    engine = engine_of(harness.app)
    harness.api.fail_next("sendMessage", 502, "Bad Gateway")
    assert (await engine.sweep()).retried == 1
    [retrying] = await tip_deliveries(harness, "pending")
    chosen = retrying.subject_key
    assert chosen is not None and await states(harness) == {}
    harness.clock.advance(timedelta(minutes=5))
    assert (await engine.sweep()).sent == 1
    assert shown_tip(chat.messages()[-1]).id == chosen
    assert {tip_id: s.shown for tip_id, s in (await states(harness)).items()} == {chosen: 1}


async def test_a_restart_finds_a_missing_daily_tip(harness: Harness) -> None:
    await onboarded(harness)
    async with harness.services.sessions() as session, session.begin():
        [waiting] = (await session.execute(select(Delivery).where(Delivery.kind == DAILY_TIP))).scalars()
        waiting.status = "failed"  # e.g. Telegram kept failing until the engine gave up
    # The tip, and the reflection prompt and weekly digest `onboarded` held back: all missing, all come back.
    assert await ensure_scheduled(harness.services.sessions, harness.clock.now()) == 3
    assert await ensure_scheduled(harness.services.sessions, harness.clock.now()) == 0
    [again] = await tip_deliveries(harness, "pending")
    assert again.due_at == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


async def test_a_nudge_and_the_daily_tip_due_together_both_arrive_one_per_sweep(harness: Harness) -> None:
    chat = await onboarded(harness)
    await chat.send("/client 王先生 13800138000")
    await chat.send("/followup 王先生 明天8点半")
    await chat.press("✅ 确认")
    harness.clock.set(datetime(2026, 11, 26, 0, 30, tzinfo=UTC))
    engine = engine_of(harness.app)
    assert (await engine.sweep()).sent == 1
    assert (await engine.sweep()).sent == 1
    texts = [m.text for m in chat.messages()[-2:]]
    assert sorted(text[:2] for text in texts) == sorted(["⏰ ", "☀️"])
