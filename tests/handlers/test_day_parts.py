"""The part-of-day hours setting (issue 12 §1), through /settings: 早上 09:00 … 晚上 20:00 until the agent changes
one; a typed time changes only that part; anything else changes nothing; ↺ puts the defaults back. Two agents keep
their own."""

from __future__ import annotations

from datetime import time

from bot.day_parts import DayPart
from bot.preferences import DEFAULT_DAY_PART_HOURS, day_part_hours
from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

DEFAULTS = ["早上 09:00", "上午 10:00", "中午 12:00", "下午 15:00", "傍晚 18:00", "晚上 20:00"]


async def open_day_parts(harness: Harness, user_id: int = 1001) -> LocalChat:
    chat = harness.chat(user_id=user_id)
    await onboard(chat)
    await chat.send("/settings")
    reply = await chat.press("🔔 跟进时间")
    assert "🌗 时段默认时间" in reply.edited[0].labels
    await chat.press("🌗 时段默认时间")
    return chat


async def test_the_defaults_are_shown_and_one_part_is_changed_by_typing(harness: Harness) -> None:
    chat = await open_day_parts(harness)
    shown = chat.last_with_buttons()
    assert shown is not None
    assert shown.text == (
        "🌗 只说时段、没说几点时（比如“明天下午”），按这些时间安排：\n" + "\n".join(DEFAULTS) + "\n点一个时段来改。"
    )
    assert shown.labels == [*DEFAULTS, "↺ 恢复默认", "⬅️ 返回"]
    assert day_part_hours(await harness.agent()) == {
        "early_morning": time(9),
        "morning": time(10),
        "noon": time(12),
        "afternoon": time(15),
        "evening": time(18),
        "night": time(20),
    }

    reply = await chat.press("下午 15:00")
    assert reply.texts == ["🕒 “下午”默认几点？例如：14:30、2pm、下午2点半。"]
    reply = await chat.send("随便")
    assert reply.texts == ["🤔 没看懂这个时间。请写成 14:30、2pm 或 下午2点半 这样。"]
    assert (await harness.agent()).day_part_hours is None  # nothing changed, still asking
    reply = await chat.send("下午2点半")
    assert reply.texts[0].startswith("✅ 已更新：下午 14:30\n\n🌗 只说时段")
    assert "下午 14:30" in reply.last.labels
    agent = await harness.agent()
    assert agent.day_part_hours == {"afternoon": "14:30"}
    assert day_part_hours(agent) == {**DEFAULT_DAY_PART_HOURS, DayPart.AFTERNOON: time(14, 30)}
    assert await harness.waiting() is None

    await chat.press("晚上 20:00")
    await chat.send("9pm")
    assert (await harness.agent()).day_part_hours == {"afternoon": "14:30", "night": "21:00"}
    await chat.press("下午 14:30")
    await chat.send("15:00")  # the default again: not stored as a change
    assert (await harness.agent()).day_part_hours == {"night": "21:00"}

    other = await open_day_parts(harness, user_id=2002)
    assert (await harness.agent(2002)).day_part_hours is None
    del other

    reply = await chat.press("↺ 恢复默认")
    assert reply.edited[0].text.startswith("✅ 已恢复默认时间。")
    assert (await harness.agent()).day_part_hours is None
    reply = await chat.press("⬅️ 返回")
    assert reply.edited[0].text.startswith("⚙️ 设置")


async def test_forged_day_part_buttons_change_nothing(harness: Harness) -> None:
    chat = await open_day_parts(harness)
    for data in ("dp:part:lunch", "dp:reset:panel", "dp:open:all", "dp:part:" + "x" * 50, "dp:part:²"):
        reply = await chat.press_data(data)
        assert reply.toast is not None and reply.sent == [], data
    assert (await harness.agent()).day_part_hours is None
    assert await harness.waiting() is None


def test_stored_values_that_are_not_hours_fall_back_to_the_defaults() -> None:
    from bot.models import Agent

    agent = Agent(day_part_hours={"afternoon": "25:00", "lunch": "12:30", "night": 7, "morning": "11:15"})
    assert day_part_hours(agent) == {**DEFAULT_DAY_PART_HOURS, DayPart.MORNING: time(11, 15)}


async def test_a_part_of_day_without_an_hour_takes_the_agents_hour_and_says_so(harness: Harness) -> None:
    """周六下午 is Saturday at the agent's 下午 hour (14:30 here, 15:00 for another agent), named in the echo."""
    chat = await open_day_parts(harness)
    await chat.press("下午 15:00")
    await chat.send("14:30")
    await chat.send("/client 王先生")
    reply = await chat.send("/followup 王先生 周六下午 带看")
    # The clock: Wednesday 2026-11-25 in Shanghai, so 周六 is the 28th.
    assert "11月28日" in reply.last.text and "14:30" in reply.last.text, reply.last.text
    assert "🌗 「下午」按 14:30 算" in reply.last.text

    other = await open_day_parts(harness, user_id=2002)
    await other.send("/client 李姐")
    reply = await other.send("/followup 李姐 周六下午")
    assert "15:00" in reply.last.text and "🌗 「下午」按 15:00 算" in reply.last.text

    reply = await other.send("/followup 李姐 周六下午4点")  # an hour given: no part-of-day line
    assert "16:00" in reply.last.text and "🌗" not in reply.last.text


async def test_a_second_tap_that_would_show_the_same_view_changes_nothing_and_apologises_for_nothing(
    harness: Harness,
) -> None:
    """Telegram refuses an edit that leaves a message as it is ("message is not modified"): a double tap on ↺
    meets it. The message already shows the answer, so nothing more is said, and nothing goes wrong."""
    chat = await open_day_parts(harness)
    first = await chat.press("↺ 恢复默认")
    reset = first.edited[0]
    assert reset.text.startswith("✅ 已恢复默认时间。")
    again = await chat.press_data(reset.data_for("↺ 恢复默认"), reset)
    assert again.sent == [] and again.edited == [] and again.toast is None
    assert chat.messages()[-1].text == reset.text and (await harness.agent()).day_part_hours is None
