"""/settings: the panel, editing by buttons and by typing, and every one-line form, valid and invalid."""

from __future__ import annotations

from datetime import time

import pytest

from runtime.local_api import LocalChat
from tests.handlers.test_onboarding import onboard
from tests.support import Harness


async def ready(harness: Harness, language_code: str = "zh-hans", user_id: int = 1001) -> LocalChat:
    chat = harness.chat(user_id=user_id, language_code=language_code)
    await onboard(chat, language="English" if language_code == "en" else "简体中文")
    return chat


async def test_panel_shows_every_setting_with_a_button_each(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/settings")
    panel = reply.sent[0]
    assert panel.text.startswith("⚙️ 设置")
    for line in (
        "🌐 语言：简体中文",
        "🕒 时区：香港时间（UTC+08:00）",
        "📝 每日复盘：每个工作日 21:30",
        "📅 工作日：周一至周六",
        "📊 周总结：周日 20:00",
        "💡 每日贴士：工作日 08:30",
        "⏳ 断联提醒（天）：新客户 3 · 意向 7 · 带看 3 · 下定 2 · 成交 30",
    ):
        assert line in panel.text
    assert panel.labels == [
        "🌐 语言",
        "🕒 时区",
        "📝 复盘时间",
        "📅 工作日",
        "📊 周总结",
        "💡 每日贴士",
        "🔔 跟进时间",
        "⏳ 断联提醒",
        "✖️ 关闭",
    ]


async def test_edit_by_button_returns_to_the_panel_with_the_change(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    reply = await chat.press("📝 复盘时间")
    question = reply.edited[0]
    assert question.text.startswith("📝 每个工作日几点")
    assert "✓ 21:30" in question.labels and question.labels[-1] == "⬅️ 返回"
    reply = await chat.press("22:00")
    assert reply.edited[0].text.startswith("✅ 已更新 每日复盘：每个工作日 22:00\n\n⚙️ 设置")
    assert (await harness.agent()).reflection_time == time(22, 0)
    assert await harness.waiting() is None


async def test_edit_by_typing_after_opening_a_question(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    await chat.press("🕒 时区")
    assert (await harness.waiting()).step == "timezone"  # type: ignore[union-attr]
    reply = await chat.send("伦敦")
    assert reply.sent[0].text.startswith("✅ 已更新 时区：伦敦（英国时间，UTC+00:00）")
    assert (await harness.agent()).timezone == "Europe/London"


async def test_digest_is_day_then_time(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    await chat.press("📊 周总结")
    reply = await chat.press("周五")
    assert reply.edited[0].text.startswith("📊 周总结几点发")
    reply = await chat.press("18:00")
    assert "✅ 已更新 周总结：周五 18:00" in reply.edited[0].text
    agent = await harness.agent()
    assert (agent.digest_weekday, agent.digest_time) == (5, time(18, 0))


async def test_workdays_toggle_and_back(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    await chat.press("📅 工作日")
    await chat.press("✓ 周一")
    assert (await harness.agent()).work_days == "23456"
    reply = await chat.press("✅ 完成")
    assert "✅ 已更新 工作日：周二至周六" in reply.edited[0].text


async def test_back_and_close(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    await chat.press("🌐 语言")
    reply = await chat.press("⬅️ 返回")
    assert reply.edited[0].text.startswith("⚙️ 设置") and await harness.waiting() is None
    reply = await chat.press("✖️ 关闭")
    closed = reply.edited[0]
    assert closed.buttons == [] and "🌐 语言：简体中文" in closed.text
    # every setting, as on the panel
    assert "⏳ 断联提醒（天）：新客户 3 · 意向 7 · 带看 3 · 下定 2 · 成交 30" in closed.text


async def test_switching_language_from_the_panel(harness: Harness) -> None:
    chat = await ready(harness)
    await chat.send("/settings")
    await chat.press("🌐 语言")
    reply = await chat.press("English")
    assert reply.edited[0].text.startswith("✅ Language updated: English\n\n⚙️ Settings")
    assert reply.edited[0].labels[0] == "🌐 Language"


ONE_LINE_FORMS = [
    ("/settings lang en", "✅ Language updated: English", {"language": "en"}),
    ("/settings lang zh-Hant", "✅ 已更新 語言：繁體中文", {"language": "zh-Hant"}),
    ("/settings 语言 English", "✅ Language updated: English", {"language": "en"}),
    (
        "/settings tz Asia/Hong_Kong",
        "✅ 已更新 时区：香港时间（UTC+08:00）",
        {"timezone": "Asia/Hong_Kong", "timezone_place": None},
    ),
    (
        "/settings tz 深圳",
        "✅ 已更新 时区：深圳（中国时间，UTC+08:00）",
        {"timezone": "Asia/Shanghai", "timezone_place": "深圳"},
    ),
    (
        "/settings tz new york",
        "✅ 已更新 时区：new york（北美东部时间，UTC-05:00）",
        {"timezone": "America/New_York", "timezone_place": "new york"},
    ),
    ("/settings tz UTC+9", "✅ 已更新 时区：UTC+09:00", {"timezone": "Etc/GMT-9", "timezone_place": None}),
    ("/settings reflect 21:30", "✅ 已更新 每日复盘：每个工作日 21:30", {"reflection_time": time(21, 30)}),
    ("/settings reflect 晚上9点半", "✅ 已更新 每日复盘：每个工作日 21:30", {"reflection_time": time(21, 30)}),
    ("/settings digest sun 20:00", "✅ 已更新 周总结：周日 20:00", {"digest_weekday": 7, "digest_time": time(20)}),
    (
        "/settings digest 周五 18:30",
        "✅ 已更新 周总结：周五 18:30",
        {"digest_weekday": 5, "digest_time": time(18, 30)},
    ),
    ("/settings tip 08:30", "✅ 已更新 每日贴士：工作日 08:30", {"tip_time": time(8, 30)}),
    ("/settings tip off", "✅ 已更新 每日贴士：关闭", {"tip_time": None}),
    ("/settings tip 关闭", "✅ 已更新 每日贴士：关闭", {"tip_time": None}),
    ("/settings workdays 1-6", "✅ 已更新 工作日：周一至周六", {"work_days": "123456"}),
    ("/settings workdays 1-5,7", "✅ 已更新 工作日：周一至周五、周日", {"work_days": "123457"}),
    ("/settings workdays mon-fri", "✅ 已更新 工作日：周一至周五", {"work_days": "12345"}),
]


@pytest.mark.parametrize(("line", "answer", "stored"), ONE_LINE_FORMS)
async def test_one_line_forms(harness: Harness, line: str, answer: str, stored: dict[str, object]) -> None:
    chat = await ready(harness)
    reply = await chat.send(line)
    assert reply.texts == [answer]
    agent = await harness.agent()
    assert {name: getattr(agent, name) for name in stored} == stored


INVALID_FORMS = [
    ("/settings lang fr", "没听懂这个语言", "/settings lang zh-Hans | en | zh-Hant"),
    ("/settings lang", "没听懂这个语言", "/settings lang zh-Hans | en | zh-Hant"),
    ("/settings tz Mars/Base", "没找到这个时区", "/settings tz Asia/Hong_Kong"),
    ("/settings tz UTC+15", "没找到这个时区", "/settings tz Asia/Hong_Kong"),
    ("/settings reflect 25:00", "时间格式不对", "/settings reflect 21:30"),
    ("/settings reflect 21", "时间格式不对", "/settings reflect 21:30"),
    ("/settings reflect soon", "时间格式不对", "/settings reflect 21:30"),
    ("/settings digest 20:00", "请写成“周几 时间”", "/settings digest sun 20:00"),
    ("/settings digest funday 20:00", "请写成“周几 时间”", "/settings digest sun 20:00"),
    ("/settings digest sun 8", "请写成“周几 时间”", "/settings digest sun 20:00"),
    ("/settings tip maybe", "请输入时间（如 08:30）", "/settings tip 08:30，或 /settings tip off"),
    ("/settings workdays 0-9", "没看懂这些工作日", "/settings workdays 1-6"),
    ("/settings workdays 6-1", "没看懂这些工作日", "/settings workdays 1-6"),
    ("/settings workdays", "没看懂这些工作日", "/settings workdays 1-6"),
]


@pytest.mark.parametrize(("line", "problem", "form"), INVALID_FORMS)
async def test_invalid_one_line_forms_change_nothing(harness: Harness, line: str, problem: str, form: str) -> None:
    chat = await ready(harness)
    before = await harness.agent()
    reply = await chat.send(line)
    [text] = reply.texts
    assert text.startswith("⚠️ " + problem)
    assert "格式：" + form in text and text.endswith("没有做任何修改。")
    after = await harness.agent()
    columns = ("language", "timezone", "reflection_time", "work_days", "digest_weekday", "digest_time", "tip_time")
    assert [getattr(after, c) for c in columns] == [getattr(before, c) for c in columns]
    assert after.updated_at == before.updated_at


async def test_unknown_setting_lists_the_forms(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/settings colour blue")
    assert reply.texts[0].startswith("🤔 没有叫“colour”的设置。")
    assert "/settings workdays 1-6" in reply.texts[0]


async def test_one_line_forms_answer_in_english(harness: Harness) -> None:
    chat = await ready(harness, language_code="en", user_id=4004)
    reply = await chat.send("/settings reflect 7pm")
    assert reply.texts == ["✅ Daily reflection updated: work days at 19:00"]
    reply = await chat.send("/settings tip later")
    assert (
        reply.texts[0] == "⚠️ Type a time (e.g. 08:30), or off to turn the daily tip off.\n\n"
        "Form: /settings tip 08:30, or /settings tip off\nNothing was changed."
    )


async def test_settings_before_onboarding_works_and_setup_continues(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    reply = await chat.send("/settings tz 香港")
    assert reply.texts == ["✅ 已更新 时区：香港时间（UTC+08:00）"]
    reply = await chat.send("/start")
    assert reply.sent[-1].text.startswith("🌐 请选择语言")
    reply = await chat.press("简体中文")
    assert "✓ 香港" in reply.last.labels


async def test_default_follow_up_hour_by_line_and_by_button(harness: Harness) -> None:
    chat = await ready(harness)
    reply = await chat.send("/settings followup 9:00")
    assert reply.texts == ["✅ 已更新 默认跟进时间：只说日期时定在 09:00"]
    assert (await harness.agent()).followup_time == time(9, 0)
    reply = await chat.send("/settings followup later")
    assert reply.texts[0].startswith("⚠️ 时间格式不对。请用 24 小时制，如 10:00")
    await chat.send("/settings")
    reply = await chat.press("🔔 跟进时间")
    assert "✓ 09:00" in reply.edited[0].labels
    reply = await chat.press("14:00")
    assert "🔔 默认跟进时间：只说日期时定在 14:00" in reply.edited[0].text
