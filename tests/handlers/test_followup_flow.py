"""The follow-up flow where agents really stumble (issue 12 §1–2), through the handlers: a second follow-up for a
client asks "replace or add?"; ⏰ Snooze never moves a follow-up earlier; a clock time already past today offers
the same time tomorrow; suggestions skip days off and booked slots; a time chosen on a day off says so; the
examples in the "couldn't read that" answer are never in the past.

The agent is in Hong Kong (work days Monday–Saturday); the clock starts on Wednesday 2026-11-25 09:00 local.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.models import FollowUp
from runtime.delivery import engine_of
from runtime.local_api import LocalChat
from tests.handlers.test_followup_edges import add, add_client, local
from tests.handlers.test_followups import agent_with_client, follow_ups, pending_deliveries, schedule_one
from tests.support import Harness

HK = "Asia/Hong_Kong"


def hk(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2026) -> datetime:
    return local(HK, date(year, month, day), time(hour, minute))


async def open_follow_ups(harness: Harness) -> list[FollowUp]:
    return [f for f in await follow_ups(harness) if f.status == "open"]


# ---------------------------------------------------------------------------------------------- replace or add


async def scheduled_twice(harness: Harness) -> tuple[LocalChat, int]:
    """One follow-up saved (Thursday 15:00, 带看新房), and a second one typed and confirmed for the same client."""
    chat, client_id = await agent_with_client(harness)
    await schedule_one(harness, chat)
    reply = await chat.send("/followup 王先生 后天上午10点 带合同")
    assert reply.texts == ["📅 跟进 王先生：11月27日 周五 10:00\n📝 带合同\n确认吗？"]
    reply = await chat.press("✅ 确认")
    question = reply.last
    assert question.text == (
        "📌 王先生 已经有待跟进的安排：\n• 11月26日 周四 15:00 📝 带看新房\n"
        "新的一个：11月27日 周五 10:00 📝 带合同\n替换原来的，还是再加一个？"
    )
    assert question.labels == ["🔁 替换 11月26日 周四 15:00 的那个", "➕ 再加一个", "✖️ 取消"]
    [only] = await follow_ups(harness)  # nothing is saved until the agent answers
    assert only.note == "带看新房"
    return chat, client_id


async def test_a_second_follow_up_added_keeps_both_with_their_notes(harness: Harness) -> None:
    chat, _ = await scheduled_twice(harness)
    reply = await chat.press("➕ 再加一个")
    assert reply.last.text.startswith("✅ 已安排：11月27日 周五 10:00 提醒你跟进 王先生。")
    first, second = await follow_ups(harness)
    assert [(f.status, f.note, f.due_at) for f in (first, second)] == [
        ("open", "带看新房", hk(26, 15)),
        ("open", "带合同", hk(27, 10)),
    ]
    assert [d.subject_id for d in await pending_deliveries(harness)] == [first.id, second.id]
    assert await harness.waiting() is None


async def test_replacing_cancels_the_old_one_and_its_nudge(harness: Harness) -> None:
    chat, _ = await scheduled_twice(harness)
    reply = await chat.press("🔁 替换 11月26日 周四 15:00 的那个")
    assert reply.last.text == "🔁 已替换：不再在 11月26日 周四 15:00 提醒；改为 11月27日 周五 10:00 跟进 王先生。"
    old, new = await follow_ups(harness)
    assert (old.status, new.status, new.note, new.due_at) == ("cancelled", "open", "带合同", hk(27, 10))
    [waiting] = await pending_deliveries(harness)
    assert (waiting.subject_id, waiting.due_at) == (new.id, new.due_at)
    harness.clock.set(hk(26, 15))
    assert (await engine_of(harness.app).sweep()).sent == 0  # the replaced one's nudge never comes


async def test_cancel_saves_nothing_and_a_typed_time_is_still_taken(harness: Harness) -> None:
    chat, _ = await scheduled_twice(harness)
    reply = await chat.send("下周一下午2点")  # changed their mind about the time: the note is kept
    assert reply.texts == ["📅 跟进 王先生：11月30日 周一 14:00\n📝 带合同\n确认吗？"]
    await chat.press("✅ 确认")
    reply = await chat.press("✖️ 取消")
    assert reply.last.text == "好的，这次没有新增跟进；原来的安排不变。"
    [only] = await follow_ups(harness)
    assert (only.status, only.note) == ("open", "带看新房")
    assert await harness.waiting() is None
    assert len(await pending_deliveries(harness)) == 1


async def test_with_several_open_each_can_be_replaced_and_the_other_agent_is_not_asked(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(26, 15), "一")
    await add(harness, 1001, client_id, hk(28, 11), "二")
    other, _ = await agent_with_client(harness, user_id=2002)
    reply = await other.send("/followup 王先生 明天下午4点")
    await other.press("✅ 确认")  # agent 2's 王先生 had nothing open: saved at once
    assert other.messages()[-1].text.startswith("✅ 已安排：11月26日 周四 16:00")

    await chat.send("/followup 王先生 周五下午5点 三")
    reply = await chat.press("✅ 确认")
    assert reply.last.labels == [
        "🔁 替换 11月26日 周四 15:00 的那个",
        "🔁 替换 11月28日 周六 11:00 的那个",
        "➕ 再加一个",
        "✖️ 取消",
    ]
    await chat.press("🔁 替换 11月28日 周六 11:00 的那个")
    mine = [f for f in await follow_ups(harness) if f.agent_id == (await harness.agent(1001)).id]
    assert [(f.note, f.status) for f in mine] == [("一", "open"), ("二", "cancelled"), ("三", "open")]


async def test_the_suggestion_after_done_asks_too_when_another_is_open(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(25, 9, 30), "今天的")
    await add(harness, 1001, client_id, hk(30, 16), "下周的")
    reply = await chat.send("/today")
    await chat.press("✅ 完成", on=reply.sent[1])
    reply = await chat.press("⏭ 跳过")
    assert reply.last.labels == ["✅ 就这个时间", "🕒 换个时间"]
    reply = await chat.press("✅ 就这个时间")
    assert reply.last.labels == ["🔁 替换 11月30日 周一 16:00 的那个", "➕ 再加一个", "✖️ 取消"]
    assert len(await open_follow_ups(harness)) == 1


async def test_a_forged_replace_button_changes_nothing(harness: Harness) -> None:
    chat, client_id = await scheduled_twice(harness)
    _, other_client = await agent_with_client(harness, user_id=2002)
    await add(harness, 2002, other_client, hk(26, 18), "别人的")
    theirs = next(f for f in await follow_ups(harness) if f.note == "别人的")
    reply = await chat.press_data(f"fu:rep:{theirs.id}")
    assert reply.toast is not None
    assert [f.status for f in await follow_ups(harness)] == ["open", "open"]
    del client_id


# ---------------------------------------------------------------------------------------------- snooze


async def test_snooze_from_today_before_an_evening_follow_up_only_offers_later_times(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(26, 20), "晚上打电话")
    harness.clock.set(hk(26, 3, 50))
    reply = await chat.send("/today")
    reply = await chat.press("⏰ 稍后", on=reply.sent[1])
    assert reply.edited[0].labels == [
        "⏰ 推后1小时（11月26日 周四 21:00）",
        "🌅 明早（11月27日 周五 09:00）",
        "⬅️ 返回",
    ]
    reply = await chat.press("⏰ 推后1小时（11月26日 周四 21:00）")
    assert reply.edited[0].text == "⏰ 好的，11月26日 周四 21:00 再提醒你跟进 王先生。"
    [moved] = await follow_ups(harness)
    assert moved.due_at == hk(26, 21)


async def test_snooze_of_tomorrows_follow_up_names_that_day(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(27, 8), "")
    harness.clock.set(hk(26, 23, 0))
    [follow_up] = await follow_ups(harness)
    reply = await chat.press_data(f"fu:snooze:{follow_up.id}", on=chat.messages()[-1])
    assert reply.edited[0].labels == [
        "⏰ 推后1小时（11月27日 周五 09:00）",
        "🌆 那天晚上（11月27日 周五 19:00）",
        "🌅 第二天早上（11月28日 周六 09:00）",
        "⬅️ 返回",
    ]


# ---------------------------------------------------------------------------------------------- past today


async def test_a_clock_time_past_today_offers_the_same_time_tomorrow_and_keeps_the_note(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    harness.clock.set(hk(25, 17))
    reply = await chat.send("/followup 王先生 下午三点半 回电话")
    assert reply.texts == ["⏪ 今天 15:30 已经过去了。改成明天同一时间（11月26日 周四 15:30）吗？"]
    assert reply.last.labels == ["✅ 明天 15:30", "🕒 换个时间"]
    assert await follow_ups(harness) == []
    reply = await chat.press("✅ 明天 15:30")
    assert reply.last.text.startswith("✅ 已安排：11月26日 周四 15:30 提醒你跟进 王先生。")
    [saved] = await follow_ups(harness)
    assert (saved.client_id, saved.due_at, saved.note) == (client_id, hk(26, 15, 30), "回电话")


async def test_a_day_already_past_is_still_refused(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send("/followup 王先生 昨天下午3点")
    assert reply.texts[0].startswith("⏪ 11月24日 周二 15:00 已经过去了")
    assert reply.last.labels == []


async def test_past_today_across_a_dst_change_keeps_the_wall_time(harness: Harness) -> None:
    harness.clock.set(datetime(2027, 3, 27, 17, 0, tzinfo=UTC))  # Saturday 17:00 in London, the eve of BST
    chat, _ = await agent_with_client(harness)
    await chat.send("/settings tz Europe/London")
    reply = await chat.send("/followup 王先生 下午3点")
    assert reply.last.labels == ["✅ 明天 15:00", "🕒 换个时间"]
    await chat.press("✅ 明天 15:00")
    [saved] = await follow_ups(harness)
    assert saved.due_at == datetime(2027, 3, 28, 14, 0, tzinfo=UTC)  # 15:00 BST


async def test_reschedule_to_a_clock_time_past_today_offers_tomorrow(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    saved = await schedule_one(harness, chat)
    harness.clock.set(saved.due_at)
    await engine_of(harness.app).sweep()
    await chat.press("📅 改时间")
    reply = await chat.send("上午10点")
    assert reply.texts == ["⏪ 今天 10:00 已经过去了。改成明天同一时间（11月27日 周五 10:00）吗？"]
    reply = await chat.press("✅ 明天 10:00")
    assert reply.last.text == "📅 已改到 11月27日 周五 10:00 跟进 王先生。"
    [moved] = await follow_ups(harness)
    assert moved.due_at == hk(27, 10)
    [delivery] = await pending_deliveries(harness)
    assert delivery.due_at == moved.due_at


async def test_the_tomorrow_button_pressed_too_late_is_not_saved_in_the_past(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    harness.clock.set(hk(25, 17))
    await chat.send("/followup 王先生 下午三点半")
    harness.clock.set(hk(26, 16))
    reply = await chat.press("✅ 明天 15:30")
    assert reply.toast == "这个时间已经过了，换一个吧。"
    assert await follow_ups(harness) == []


# ---------------------------------------------------------------------------------------------- days off, booked


async def done_and_skip(harness: Harness, chat: LocalChat) -> str:
    """Finish the follow-up due now from its nudge, skip the outcome: the suggestion's text."""
    await engine_of(harness.app).sweep()
    await chat.press("✅ 完成")
    reply = await chat.press("⏭ 跳过")
    return reply.last.text


async def test_a_suggestion_landing_on_a_day_off_moves_to_the_next_work_day_and_says_so(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness, stage="viewing")  # two days: Friday → Sunday, a day off
    await add(harness, 1001, client_id, hk(27, 10), "")
    harness.clock.set(hk(27, 10))
    text = await done_and_skip(harness, chat)
    assert text == (
        "📅 下次什么时候跟进 王先生？带看阶段的客户，建议 2 天后：11月30日 周一 10:00。\n"
        "😴 原定那天是你的休息日，已顺延到下一个工作日。"
    )
    await chat.press("✅ 就这个时间")
    [saved] = await open_follow_ups(harness)
    assert saved.due_at == hk(30, 10)


async def test_a_suggestion_never_lands_on_a_time_already_booked(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)  # a new lead: tomorrow at the follow-up hour (10:00)
    other_client = await add_client(harness, 1001, "李小姐")
    await add(harness, 1001, client_id, hk(25, 9), "")
    await add(harness, 1001, other_client, hk(26, 10), "")
    await add(harness, 1001, other_client, hk(26, 10, 20), "")
    someone, theirs = await agent_with_client(harness, user_id=2002)
    await add(harness, 2002, theirs, hk(26, 11), "")  # another agent's booking is not this agent's
    del someone
    harness.clock.set(hk(25, 9))
    text = await done_and_skip(harness, chat)
    assert text == (
        "📅 下次什么时候跟进 王先生？新客户阶段的客户，建议 1 天后：11月26日 周四 11:00。\n"
        "🗓 那个时间已经约了别的跟进，已顺延到最近的空档。"
    )
    booked = {f.due_at for f in await open_follow_ups(harness) if f.agent_id == (await harness.agent()).id}
    await chat.press("✅ 就这个时间")
    [saved] = [f for f in await open_follow_ups(harness) if f.client_id == client_id]
    assert saved.due_at == hk(26, 11) and saved.due_at not in booked


async def test_a_time_chosen_on_a_day_off_says_so_and_offers_the_next_work_day(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send("/followup 王先生 11月29日 15:00 看房")  # a Sunday
    assert reply.texts == [
        "📅 跟进 王先生：11月29日 周日 15:00\n📝 看房\n确认吗？\n\n"
        "😴 这天是你的休息日。照常安排就点“确认”，也可以改到下一个工作日。"
    ]
    assert reply.last.labels == ["✅ 确认", "📅 改到 11月30日 周一 15:00", "🕒 换个时间"]
    reply = await chat.press("📅 改到 11月30日 周一 15:00")
    assert reply.last.text.startswith("✅ 已安排：11月30日 周一 15:00")
    [saved] = await follow_ups(harness)
    assert (saved.due_at, saved.note) == (hk(30, 15), "看房")


async def test_keeping_the_day_off_is_allowed(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    await chat.send("/followup 王先生 11月29日 15:00")
    await chat.press("✅ 确认")
    [saved] = await follow_ups(harness)
    assert saved.due_at == hk(29, 15)


# ---------------------------------------------------------------------------------------------- examples


def examples_in(text: str, start: str, end: str, separator: str) -> list[str]:
    body = text.split(start, 1)[1].rsplit(end, 1)[0]
    return [part.strip() for part in body.split(separator)]


@pytest.mark.parametrize(
    "now",
    [
        hk(29, 23, 30),  # a Sunday night
        hk(28, 10, month=12),  # a Monday near the year's end: five days ahead is next year
        hk(30, 12),  # a month's last day
    ],
)
async def test_every_example_in_the_unreadable_answer_is_read_and_in_the_future(
    harness: Harness, now: datetime
) -> None:
    chat, _ = await agent_with_client(harness)
    harness.clock.set(now)
    reply = await chat.send("/followup 王先生 找个时间吧")
    examples = examples_in(reply.texts[0], "可以这样写：", "。", "、")
    assert len(examples) >= 6
    for example in examples:
        reply = await chat.send(example)
        assert reply.texts[0].startswith("📅 跟进 王先生："), (example, reply.texts)


async def test_english_examples_are_read_and_in_the_future(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness, language_code="en")
    harness.clock.set(hk(28, 10, month=12))
    reply = await chat.send("/followup 王先生 whenever")
    examples = examples_in(reply.texts[0], "Try: ", ".", ", ")
    assert len(examples) >= 6
    for example in examples:
        reply = await chat.send(example)
        assert reply.texts[0].startswith("📅 Follow up with 王先生:"), (example, reply.texts)


def test_helpers_agree() -> None:
    assert hk(25, 9) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    assert hk(26, 3, 50) + timedelta(minutes=10) == hk(26, 4)


# ---------------------------------------------------------------------------------------------- a new time zone


async def test_a_zone_change_says_what_moved_and_keeps_the_local_times_on_one_tap(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    other_client = await add_client(harness, 1001, "李小姐")
    await add(harness, 1001, client_id, hk(26, 20), "晚上打电话")
    await add(harness, 1001, other_client, hk(24, 10), "逾期的")  # past: overdue, not moved by the zone
    someone, theirs = await agent_with_client(harness, user_id=2002)
    await add(harness, 2002, theirs, hk(26, 20), "")
    reply = await chat.send("/settings tz Australia/Sydney")  # UTC+11 in November: 20:00 in Hong Kong is 23:00
    notice = reply.sent[0]
    assert notice.text == (
        "🕒 时区改了。待跟进的提醒还在原来的那一刻，按新时区显示为：\n"
        "• 王先生：11月26日 周四 23:00（原来是 11月26日 周四 20:00）\n"
        "想保持原来的当地时间（几点还是几点），点下面的按钮。"
    )
    assert notice.labels == ["↩️ 保持原来的当地时间"]
    assert reply.sent[1].text.startswith("✅ 已更新 时区")
    [kept_before] = [f for f in await open_follow_ups(harness) if f.client_id == client_id]
    assert kept_before.due_at == hk(26, 20)  # nothing moves without the tap

    harness.clock.advance(timedelta(minutes=2))
    await chat.send("/followup 李小姐 明天下午3点")  # made after the change, in the new zone: not moved
    await chat.press("✅ 确认")
    await chat.press("➕ 再加一个")
    keep = notice.data_for("↩️ 保持原来的当地时间")
    reply = await chat.press_data(keep, on=notice)
    assert reply.edited[0].text == "↩️ 好的，都按原来的当地时间提醒：\n• 王先生：11月26日 周四 20:00"
    sydney_eight = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    mine = {f.note: f for f in await follow_ups(harness) if f.agent_id == (await harness.agent()).id}
    assert mine["晚上打电话"].due_at == sydney_eight
    assert mine["逾期的"].due_at == hk(24, 10)
    new_one = next(f for f in await open_follow_ups(harness) if f.client_id == other_client and f.due_at > hk(25, 9))
    assert new_one.due_at == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)  # 15:00 in Sydney, as typed
    waiting = {d.subject_id: d.due_at for d in await pending_deliveries(harness)}
    assert waiting[mine["晚上打电话"].id] == sydney_eight
    theirs_now = [f for f in await follow_ups(harness) if f.agent_id == (await harness.agent(2002)).id]
    assert [f.due_at for f in theirs_now] == [hk(26, 20)]  # the other agent's zone never changed

    again = await chat.press_data(keep, on=notice)
    assert again.toast is not None  # pressed twice: nothing moves again
    assert next(f for f in await follow_ups(harness) if f.note == "晚上打电话").due_at == sydney_eight
    del someone


async def test_a_zone_change_with_nothing_open_says_nothing_more(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness)
    reply = await chat.send("/settings tz Asia/Tokyo")
    assert len(reply.sent) == 1 and reply.texts[0].startswith("✅ 已更新 时区")


async def test_a_zone_change_from_the_panel_button_offers_it_too(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness, language_code="en")
    await add(harness, 1001, client_id, hk(26, 20), "")
    await chat.send("/settings")
    await chat.press("🕒 Time zone")
    reply = await chat.send("Asia/Tokyo")
    notice = next(m for m in reply.sent if m.labels == ["↩️ Keep the local times"])
    assert "• 王先生: Thu 26 Nov, 21:00 (was Thu 26 Nov, 20:00)" in notice.text
    await chat.press("↩️ Keep the local times", on=notice)
    [kept] = await follow_ups(harness)
    assert kept.due_at == local("Asia/Tokyo", date(2026, 11, 26), time(20, 0))


async def test_keeping_local_times_never_moves_one_into_the_past(harness: Harness) -> None:
    """Overdue ones stay overdue (to London, 08:00 would come back into the future); one due soon whose old wall
    time has already passed in the new zone (09:30 in Sydney is hours ago) keeps its moment."""
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(25, 8), "逾期")
    await add(harness, 1001, client_id, hk(25, 9, 30), "马上")
    await add(harness, 1001, client_id, hk(27, 9, 30), "周五")
    reply = await chat.send("/settings tz Europe/London")
    notice = reply.sent[0]
    assert "逾期" not in notice.text and notice.text.count("• 王先生") == 2
    await chat.press("↩️ 保持原来的当地时间", on=notice)
    moved = {f.note: f.due_at for f in await follow_ups(harness)}
    assert moved["逾期"] == hk(25, 8)
    assert moved["马上"] == local("Europe/London", date(2026, 11, 25), time(9, 30))
    await chat.send("/settings tz Australia/Sydney")
    await chat.press("↩️ 保持原来的当地时间", on=chat.last_with_buttons())
    after = {f.note: f.due_at for f in await follow_ups(harness)}
    assert after["马上"] == moved["马上"]  # 09:30 in Sydney was long before now: it keeps its moment
    assert after["周五"] == local("Australia/Sydney", date(2026, 11, 27), time(9, 30))


async def test_replace_choices_are_listed_earliest_first(harness: Harness) -> None:
    chat, client_id = await agent_with_client(harness)
    await add(harness, 1001, client_id, hk(28, 11), "后")
    await add(harness, 1001, client_id, hk(26, 15), "前")
    await chat.send("/followup 王先生 下周一下午2点")
    reply = await chat.press("✅ 确认")
    assert reply.last.labels[:2] == ["🔁 替换 11月26日 周四 15:00 的那个", "🔁 替换 11月28日 周六 11:00 的那个"]
