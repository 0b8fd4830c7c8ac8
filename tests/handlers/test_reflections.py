"""The daily reflection through the handlers: the prompt at the agent's time (two zones, work days only, once a
day), Later and Skip, the six-question check-in (buttons, typing, voice, skipping, bad input, /cancel, a restart
in the middle), the matched tip, streaks, and the journal with same-day edits."""

from __future__ import annotations

import itertools
import time as wall
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.models import Delivery, Reflection
from bot.recurring import REFLECTION
from bot.reflections import LATER
from runtime.delivery import engine_of
from runtime.local_api import LocalChat, Reply
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

WED = date(2026, 11, 25)
# Onboarding picks Hong Kong, reflection at 21:30, work days Mon–Sat; the clock starts Wed 25 Nov 09:00 there.
WED_PROMPT = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
FIRST_QUESTION = "（1/6）今天接待或联系了几位客户？点数字，或直接输入。"
WHICH_DAY = "的复盘还没做完。补上那天的，还是开始今天的？"


async def agent(harness: Harness, user_id: int = 1001) -> LocalChat:
    chat = harness.chat(user_id=user_id)
    await onboard(chat)
    await chat.send("/settings tip off")  # the daily tip has its own tests; keep each sweep to the prompt
    return chat


async def deliveries(harness: Harness, kind: str, status: str | None = None) -> list[Delivery]:
    async with harness.services.sessions() as session:
        query = select(Delivery).where(Delivery.kind == kind).order_by(Delivery.id)
        if status:
            query = query.where(Delivery.status == status)
        return list((await session.execute(query)).scalars())


async def stored(harness: Harness, day: date = WED) -> Reflection | None:
    async with harness.services.sessions() as session:
        found = await session.execute(select(Reflection).where(Reflection.day == day))
        return found.scalar_one_or_none()


async def prompt_now(harness: Harness, chat: LocalChat, at: datetime = WED_PROMPT) -> None:
    harness.clock.set(at)
    assert (await engine_of(harness.app).sweep()).sent == 1
    assert chat.messages()[-1].text.startswith("📝 复盘时间到了")


_voice_ids = itertools.count(1)


async def send_voice(harness: Harness, chat: LocalChat, seconds: int = 12) -> Reply:
    number = next(_voice_ids)
    message: dict[str, Any] = {
        "message_id": harness.api.next_message_id(chat.chat_id),
        "date": int(wall.time()),
        "chat": chat.chat,
        "from": chat.user,
        "voice": {"file_id": f"voice-{number}", "file_unique_id": f"v{number}", "duration": seconds},
    }
    return await chat._process({"update_id": 900_000 + number, "message": message})


# ---------------------------------------------------------------------------------------------- the prompt


async def test_the_prompt_comes_at_the_agents_time_once_a_day(harness: Harness) -> None:
    chat = await agent(harness)
    [waiting] = await deliveries(harness, REFLECTION, "pending")
    assert waiting.due_at == WED_PROMPT
    engine = engine_of(harness.app)
    harness.clock.set(WED_PROMPT - timedelta(seconds=1))
    assert (await engine.sweep()).sent == 0
    await prompt_now(harness, chat)
    message = chat.messages()[-1]
    assert message.text == "📝 复盘时间到了（2026年11月25日 周三）\n花两分钟回顾一下今天：6 个小问题，每个都可以跳过。"
    assert message.labels == ["▶️ 开始", "⏰ 1小时后", "⏭ 今天跳过"]
    assert (await engine.sweep()).claimed == 0
    [following] = await deliveries(harness, REFLECTION, "pending")
    assert following.due_at == WED_PROMPT + timedelta(days=1)
    harness.assert_all_text_from_catalogs()


async def test_no_prompt_on_a_day_off_and_one_in_another_zone(harness: Harness) -> None:
    await agent(harness)
    engine = engine_of(harness.app)
    harness.clock.set(datetime(2026, 11, 28, 13, 30, tzinfo=UTC))  # Saturday 21:30 in Hong Kong
    for _ in range(3):  # Wed, Thu, Fri and Sat were missed: one late prompt, not four
        await engine.sweep()
    assert len(await deliveries(harness, REFLECTION, "sent")) == 1
    [following] = await deliveries(harness, REFLECTION, "pending")
    assert following.due_at == datetime(2026, 11, 30, 13, 30, tzinfo=UTC)  # Monday: Sunday is a day off
    other = await agent(harness, user_id=1002)
    await other.send("/settings tz America/New_York")
    mine = [d for d in await deliveries(harness, REFLECTION, "pending") if d.due_at != following.due_at]
    assert [d.due_at for d in mine] == [datetime(2026, 11, 29, 2, 30, tzinfo=UTC)]  # Sat 21:30 EST


async def test_no_prompt_for_a_day_already_reflected_on(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    for _ in range(6):
        await chat.press("跳过这题")
    harness.clock.set(WED_PROMPT)
    report = await engine_of(harness.app).sweep()
    assert (report.sent, report.cancelled) == (0, 1)
    [following] = await deliveries(harness, REFLECTION, "pending")  # tomorrow's is still on
    assert following.due_at == WED_PROMPT + timedelta(days=1)


async def test_later_asks_again_in_an_hour_and_skip_stops_for_the_day(harness: Harness) -> None:
    chat = await agent(harness)
    await prompt_now(harness, chat)
    reply = await chat.press("⏰ 1小时后")
    assert reply.edited[0].text == "⏰ 好的，11月25日 周三 22:30 再提醒你复盘。"
    engine = engine_of(harness.app)
    harness.clock.advance(timedelta(minutes=59))
    assert (await engine.sweep()).sent == 0
    harness.clock.advance(timedelta(minutes=1))
    assert (await engine.sweep()).sent == 1
    assert chat.messages()[-1].text == "📝 一小时到了，现在来复盘一下吗？（2026年11月25日 周三）"
    reply = await chat.press("⏭ 今天跳过")
    assert reply.edited[0].text == "⏭ 好的，2026年11月25日 周三 的复盘跳过了，今天不会再提醒你。"
    reflection = await stored(harness)
    assert reflection is not None and reflection.status == "skipped"
    reply = await chat.press_data("rf:later:2026-11-25:-")  # an older prompt's Later, pressed after skipping
    assert reply.toast == "⏭ 好的，2026年11月25日 周三 的复盘跳过了，今天不会再提醒你。"
    assert await deliveries(harness, LATER, "pending") == []
    harness.clock.advance(timedelta(hours=1))
    assert (await engine.sweep()).sent == 0  # a skipped day gets no second nag


# ---------------------------------------------------------------------------------------------- the check-in


async def test_a_full_check_in_by_buttons_typing_and_a_tip_that_fits(harness: Harness) -> None:
    chat = await agent(harness)
    await prompt_now(harness, chat)
    reply = await chat.press("▶️ 开始")
    assert reply.texts == [FIRST_QUESTION]
    assert reply.last.labels == ["0", "1", "2", "3", "4", "5", "6+", "跳过这题"]
    reply = await chat.press("3")
    assert reply.edited[0].text == "✔️ 3"
    assert reply.last.labels == ["😞 1", "😕 2", "😐 3", "🙂 4", "😄 5", "跳过这题"]
    await chat.press("😕 2")
    reply = await chat.send("带看了两组客户，其中一组很满意")
    assert reply.texts == ["（4/6）今天哪里不顺、哪里还要改进？"]
    await chat.send("客户嫌贵，跟我吵了一架，我没控制好脾气，很生气")
    await chat.send("客户发火时先听完再说")
    reply = await chat.send("给王姐回电话，约周六带看")
    assert reply.texts[0] == "✅ 今天的复盘保存好了，辛苦了！\n🌱 好的开始：明天继续，就是连续复盘了。"
    assert reply.texts[1] == "看了你今天写的，送你一条老销售的经验："
    assert reply.texts[2].startswith("💡 ")
    reflection = await stored(harness)
    assert reflection is not None
    assert (reflection.status, reflection.step, reflection.clients, reflection.mood) == ("done", None, 3, 2)
    assert reflection.completed_at == reflection.updated_at == harness.clock.now()  # done when the last answer came
    assert reflection.to_improve == "客户嫌贵，跟我吵了一架，我没控制好脾气，很生气"
    assert reflection.tomorrow == "给王姐回电话，约周六带看"
    from bot.tip_library import library

    tip = library().tip(reflection.tip_id or "")
    assert tip is not None and "mindset" in tip.topics  # an angry client and a lost temper: emotion control
    assert await harness.waiting() is None
    harness.assert_all_text_from_catalogs()


async def test_every_question_can_be_skipped(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    for _ in range(6):
        await chat.press("跳过这题")
    reflection = await stored(harness)
    assert reflection is not None and reflection.status == "done"
    assert [reflection.clients, reflection.mood, reflection.went_well, reflection.lesson] == [None] * 4
    assert chat.messages()[-1].text.startswith("💡 ")  # still a tip: the general rotation


async def test_bad_input_gets_a_clear_reply_and_changes_nothing(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    reply = await chat.send("很多")
    assert reply.texts == ["请输入一个数字，比如 3（或点上面的按钮）。"]
    reply = await chat.send("三个")
    assert reply.texts[0].startswith("（2/6）今天的状态怎么样")
    reply = await chat.send("9")
    assert reply.texts == ["请输入 1 到 5 之间的数字（或点上面的按钮）。"]
    reflection = await stored(harness)
    assert reflection is not None and (reflection.clients, reflection.mood, reflection.step) == (3, None, "mood")
    reply = await chat.press_data("rf:ans:2026-11-25:9")  # a forged mood
    assert reply.toast == "这个按钮已经过期了，请用最新的消息操作。"
    reply = await chat.press_data("rf:ans:2026-11-30:3")  # a day in the future
    assert reply.toast == "这个按钮已经过期了，请用最新的消息操作。"
    assert (await stored(harness)).mood is None  # type: ignore[union-attr]


async def test_cancel_keeps_the_answers_and_reflect_resumes_at_the_next_question(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    await chat.send("4")
    await chat.send("/cancel")
    reply = await chat.send("/reflect")
    assert reply.texts[0].startswith("（2/6）今天的状态怎么样")
    reflection = await stored(harness)
    assert reflection is not None and reflection.clients == 4


async def test_a_restart_in_the_middle_takes_the_next_answer(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    await chat.press("2")
    await chat.press("🙂 4")
    await harness.restart()
    chat = harness.chat()
    reply = await chat.send("签了一单，客户很信任我")
    assert reply.texts == ["（4/6）今天哪里不顺、哪里还要改进？"]
    reflection = await stored(harness)
    assert reflection is not None and (reflection.mood, reflection.went_well) == (4, "签了一单，客户很信任我")


async def test_a_voice_note_is_kept_and_acknowledged(harness: Harness) -> None:
    chat = await agent(harness)
    await chat.send("/reflect")
    await chat.press("1")
    await chat.press("😐 3")
    reply = await send_voice(harness, chat, seconds=12)
    assert reply.texts == ["🎙 收到你的语音（12 秒），已经保存。", "（4/6）今天哪里不顺、哪里还要改进？"]
    reflection = await stored(harness)
    assert reflection is not None and reflection.went_well is None
    assert list(reflection.voice) == ["went_well"] and reflection.voice["went_well"].startswith("voice-")
    reply = await send_voice(harness, harness.chat(1003))  # no check-in waiting: not understood, said so
    assert reply.texts == ["这类消息我还看不懂，请发文字或使用按钮。"]


async def test_before_noon_reflect_offers_yesterday_if_unfinished(harness: Harness) -> None:
    chat = await agent(harness)
    harness.clock.set(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))  # Thursday 10:00 in Hong Kong
    reply = await chat.send("/reflect")
    assert reply.texts == ["2026年11月25日 周三" + " " + WHICH_DAY]
    assert reply.last.labels == ["📝 补 2026年11月25日 周三", "▶️ 今天 2026年11月26日 周四"]
    assert (await chat.press("📝 补 2026年11月25日 周三")).texts == [FIRST_QUESTION]
    assert await stored(harness, WED) is not None
    harness.clock.set(datetime(2026, 11, 26, 5, 0, tzinfo=UTC))  # 13:00: today's now
    await chat.send("/cancel")
    await chat.send("/reflect")
    assert await stored(harness, date(2026, 11, 26)) is not None


# ---------------------------------------------------------------------------------------------- streaks, journal


async def finish_day(harness: Harness, chat: LocalChat, day: date, hour_utc: int = 13) -> None:
    harness.clock.set(datetime(day.year, day.month, day.day, hour_utc, 0, tzinfo=UTC))
    await chat.send("/reflect")
    for _ in range(6):
        await chat.press("跳过这题")


async def test_streak_counts_work_days_and_a_day_off_does_not_break_it(harness: Harness) -> None:
    chat = await agent(harness)
    for day in (26, 27, 28):  # Thu, Fri, Sat
        await finish_day(harness, chat, date(2026, 11, day))
    # Sunday 29 is a day off; Monday 30:
    await finish_day(harness, chat, date(2026, 11, 30))
    assert chat.messages()[-3].text == "✅ 今天的复盘保存好了，辛苦了！\n🔥 已经连续 4 个工作日复盘。"
    # Tuesday is missed; Wednesday starts again.
    await finish_day(harness, chat, date(2026, 12, 2))
    assert chat.messages()[-3].text.endswith("🌱 好的开始：明天继续，就是连续复盘了。")


async def test_journal_lists_days_opens_one_and_edits_only_today(harness: Harness) -> None:
    chat = await agent(harness)
    assert (await chat.send("/journal")).texts[0].startswith("还没有复盘记录")
    await finish_day(harness, chat, date(2026, 11, 26))
    await chat.send("/reflect")  # Thursday again: already done
    harness.clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    await chat.send("/reflect")
    await chat.send("5")
    await chat.press("😄 5")
    reply = await chat.send("/journal")
    assert reply.texts[0].startswith("📔 我的复盘日记（2 天 · 第 1/1 页）\n🔥 连续复盘：1 个工作日")
    assert reply.last.labels == [
        "2026年11月27日 周五 😄 接待 5（未完成）",
        "2026年11月26日 周四 ",
    ]
    reply = await chat.press("2026年11月26日 周四 ")
    assert reply.texts[0].startswith("📔 2026年11月26日 周四\n👥 接待/联系客户：—")
    assert reply.last.labels == ["📔 我的复盘日记"]  # yesterday's: read only
    reply = await chat.press_data("rf:edit:2026-11-26:lesson")
    assert reply.toast == "只有当天的复盘可以修改。"
    await chat.press("2026年11月27日 周五 😄 接待 5（未完成）", on=chat.messages()[-2])
    reply = await chat.press("✏️ 接待客户数")
    assert reply.texts == ["✏️ 改“接待客户数”：输入新的内容。"]
    reply = await chat.send("6")
    assert reply.texts[0] == "✅ 改好了。" and "👥 接待/联系客户：6" in reply.texts[1]
    reflection = await stored(harness, date(2026, 11, 27))
    assert reflection is not None and (reflection.clients, reflection.step) == (6, "went_well")


async def test_changing_the_reflection_time_moves_the_prompt(harness: Harness) -> None:
    chat = await agent(harness)
    cancelled = len(await deliveries(harness, REFLECTION, "cancelled"))
    await chat.send("/settings reflect 20:00")
    [waiting] = await deliveries(harness, REFLECTION, "pending")
    assert waiting.due_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # Wed 20:00 in Hong Kong
    assert len(await deliveries(harness, REFLECTION, "cancelled")) == cancelled + 1  # the 21:30 one


async def test_start_up_adds_missing_prompts_in_batches(harness: Harness) -> None:
    from bot.recurring import ensure_scheduled
    from tests.support import hold_back_other_kinds

    for user_id in (1001, 1002, 1003):
        await onboard(harness.chat(user_id=user_id))
    await hold_back_other_kinds(harness)  # as after an upgrade that introduced the recurring kinds
    # A tip, a prompt and a digest each.
    assert await ensure_scheduled(harness.services.sessions, harness.clock.now(), batch=2) == 9
    assert len(await deliveries(harness, REFLECTION, "pending")) == 3
    assert await ensure_scheduled(harness.services.sessions, harness.clock.now(), batch=2) == 0
