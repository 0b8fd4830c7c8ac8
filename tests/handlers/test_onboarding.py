"""Onboarding as an agent goes through it: what they see, the buttons offered, what is stored."""

from __future__ import annotations

from datetime import time

import pytest

from runtime.local_api import LocalChat
from tests.support import Harness


async def onboard(chat: LocalChat, *, language: str = "简体中文") -> None:
    """Answer every onboarding question with the first sensible button."""
    await chat.send("/start")
    await chat.press(language)
    await chat.press(chat.last_with_buttons().labels[1])  # type: ignore[union-attr]  # a city
    await chat.press("21:30")
    await chat.press(chat.last_with_buttons().labels[-1])  # type: ignore[union-attr]  # done
    await chat.press(chat.last_with_buttons().labels[2])  # type: ignore[union-attr]  # a day
    await chat.press("20:00")
    await chat.press("08:30")


async def test_new_agent_is_greeted_and_asked_for_language_first(harness: Harness) -> None:
    chat = harness.chat(language_code="zh-hans")
    reply = await chat.send("/start")
    welcome, question = reply.sent
    assert "你好，小王" in welcome.text
    assert "每个客户都登记、都跟进" in welcome.text
    assert question.labels == ["✓ 简体中文", "English", "繁體中文"]
    agent = await harness.agent()
    assert agent.language == "zh-Hans" and agent.setup_step == "language"
    assert agent.timezone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("language_code", "preselected"),
    [
        ("en-US", "✓ English"),
        ("zh-hant", "✓ 繁體中文"),
        ("zh-TW", "✓ 繁體中文"),
        (None, "✓ 简体中文"),
        ("fr", "✓ 简体中文"),
    ],
)
async def test_language_is_preselected_from_telegram(
    harness: Harness, language_code: str | None, preselected: str
) -> None:
    reply = await harness.chat(language_code=language_code).send("/start")
    assert preselected in reply.last.labels


async def test_full_onboarding_in_chinese(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")

    reply = await chat.press("简体中文")
    assert reply.edited[0].text == "✓ 语言：简体中文"
    assert reply.sent[0].text.startswith("🕒 你在哪个时区")
    assert "✓ 北京 / 上海" in reply.sent[0].labels and "香港" in reply.sent[0].labels

    reply = await chat.press("香港")
    assert reply.edited[0].text == "✓ 时区：香港时间（UTC+08:00）"
    assert "21:30" in reply.last.labels and "✓ 21:00" in reply.last.labels

    reply = await chat.press("21:30")
    assert reply.edited[0].text == "✓ 每日复盘：每个工作日 21:30"
    assert reply.last.labels == [
        "✓ 周一",
        "✓ 周二",
        "✓ 周三",
        "✓ 周四",
        "✓ 周五",
        "✓ 周六",
        "周日",
        "✅ 完成",
    ]

    reply = await chat.press("✓ 周三")  # Wednesday off
    assert reply.sent == [] and "周三" in reply.edited[0].labels
    reply = await chat.press("周日")
    assert "✓ 周日" in reply.edited[0].labels
    reply = await chat.press("✅ 完成")
    assert reply.edited[0].text == "✓ 工作日：周一、周二、周四至周日"

    assert reply.last.labels == ["周五", "周六", "✓ 周日", "周一"]
    reply = await chat.press("周六")
    reply = await chat.press("19:00")
    assert reply.edited[0].text == "✓ 周总结：周六 19:00"
    assert reply.last.labels[-1] == "🚫 不用"

    reply = await chat.press("09:00")
    done = reply.sent[-1]
    assert done.text.startswith("🎉 设置完成")
    for line in (
        "🌐 语言：简体中文",
        "🕒 时区：香港时间（UTC+08:00）",
        "📝 每日复盘：每个工作日 21:30",
        "📅 工作日：周一、周二、周四至周日",
        "📊 周总结：周六 19:00",
        "💡 每日贴士：工作日 09:00",
    ):
        assert line in done.text
    assert done.labels == ["⚙️ 设置"]

    agent = await harness.agent()
    assert agent.setup_step is None
    assert (agent.language, agent.timezone, agent.work_days) == ("zh-Hans", "Asia/Hong_Kong", "124567")
    assert (agent.reflection_time, agent.digest_weekday, agent.digest_time, agent.tip_time) == (
        time(21, 30),
        6,
        time(19, 0),
        time(9, 0),
    )
    assert await harness.waiting() is None


async def test_onboarding_in_english_with_typed_answers(harness: Harness) -> None:
    chat = harness.chat(user_id=2002, first_name="Amy", language_code="en")
    reply = await chat.send("/start")
    assert reply.sent[0].text.startswith("👋 Hi Amy!")
    await chat.press("English")
    reply = await chat.send("Vancouver")
    assert reply.sent[0].text.startswith("✓ Time zone: Vancouver (Pacific Time, UTC-08:00)")
    reply = await chat.send("9pm")
    assert reply.sent[0].text == "✓ Daily reflection: work days at 21:00"
    reply = await chat.send("1-5")
    assert reply.sent[0].text == "✓ Work days: Mon–Fri"
    reply = await chat.send("sun 18:00")  # day and time at once skips the time question
    assert reply.sent[0].text == "✓ Weekly digest: Sun at 18:00"
    assert reply.sent[1].text.startswith("💡 Would you like a coaching tip")
    reply = await chat.send("off")
    assert "💡 Daily tip: off" in reply.last.text and reply.last.text.startswith("🎉 All set!")
    agent = await harness.agent(2002)
    assert (agent.timezone, agent.work_days, agent.tip_time, agent.digest_weekday) == (
        "America/Vancouver",
        "12345",
        None,
        7,
    )


async def test_onboarding_in_traditional_chinese(harness: Harness) -> None:
    chat = harness.chat(user_id=3003, first_name="阿明", language_code="zh-hant")
    await onboard(chat, language="繁體中文")
    done = chat.messages()[-1]
    assert done.text.startswith("🎉 設定完成")
    assert "時區：香港" in done.text and "每個工作日 21:30" in done.text
    assert (await harness.agent(3003)).language == "zh-Hant"


async def test_choosing_a_language_switches_the_conversation_and_the_menu(harness: Harness) -> None:
    chat = harness.chat(language_code="zh-hans")
    await chat.send("/start")
    reply = await chat.press("English")
    assert reply.edited[0].text == "✓ Language: English"
    assert reply.sent[0].text.startswith("🕒 Which time zone")
    chat_scope = '{"chat_id": 1001, "type": "chat"}'
    menu = harness.api.commands[(chat_scope, "")]
    assert [c["command"] for c in menu][:3] == ["start", "client", "clients"]
    assert menu[1]["description"] == "Register a new client"
    assert harness.api.commands[(chat_scope, "")][0]["description"] == "Set up the bot"


async def test_bad_typed_answers_are_explained_and_change_nothing(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("简体中文")
    reply = await chat.send("火星")
    assert reply.texts == [
        "没找到这个时区。请输入城市名（如 深圳、Vancouver）、时区名（如 Asia/Shanghai），或 UTC+8 这样的写法。"
    ]
    agent = await harness.agent()
    assert agent.timezone == "Asia/Shanghai" and agent.setup_step == "timezone"
    await chat.send("UTC+8")
    reply = await chat.send("25:99")
    assert reply.texts[0].startswith("时间格式不对")
    assert (await harness.agent()).setup_step == "reflection"


async def test_workdays_cannot_be_empty(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    for label in ("简体中文", "香港", "21:30"):
        await chat.press(label)
    for day in ("✓ 周一", "✓ 周二", "✓ 周三", "✓ 周四", "✓ 周五", "✓ 周六"):
        await chat.press(day)
    reply = await chat.press("✅ 完成")
    assert reply.alert and reply.toast == "至少要选一天上班哦。"
    assert (await harness.agent()).setup_step == "workdays"


async def test_restart_mid_onboarding_resumes_at_the_same_question(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("简体中文")
    await chat.press("香港")
    await harness.restart()  # the process dies and comes back: only the database remains
    chat = harness.chat()

    reply = await chat.send("21:45")  # typed straight into the pending question
    assert reply.sent[0].text == "✓ 每日复盘：每个工作日 21:45"
    assert reply.sent[1].text.startswith("📅 你哪几天上班")
    assert (await harness.agent()).setup_step == "workdays"


async def test_start_again_mid_onboarding_repeats_the_pending_question(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("简体中文")
    reply = await chat.send("/start")
    assert reply.sent[0].text.startswith("👋 欢迎回来，小王！我们接着上次的设置继续")
    assert reply.sent[1].text.startswith("🕒 你在哪个时区")


async def test_a_command_mid_onboarding_is_that_command_and_the_flow_survives(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("简体中文")
    reply = await chat.send("/help")
    assert reply.texts[0].startswith("我能帮你做什么")
    assert (await harness.agent()).timezone == "Asia/Shanghai"  # "/help" was not taken as a zone
    reply = await chat.send("Asia/Taipei")
    assert reply.sent[0].text.startswith("✓ 时区：台北")


async def test_cancel_pauses_setup_and_start_resumes(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    await chat.press("简体中文")
    reply = await chat.send("/cancel")
    assert reply.texts == ["好的，设置先暂停。已选的都保存了，发 /start 可以从刚才那一步继续。"]
    reply = await chat.send("香港")
    assert reply.texts == ["我们先把设置做完吧：发 /start 继续，只需要一分钟。"]
    assert (await harness.agent()).timezone == "Asia/Shanghai"
    reply = await chat.send("/start")
    assert reply.sent[-1].text.startswith("🕒 你在哪个时区")


async def test_old_buttons_of_a_finished_step_are_refused(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    question = (await chat.press("简体中文")).sent[0]
    await chat.press("香港", on=question)
    reply = await chat.press_data("ob:timezone:Asia/Tokyo", question)
    assert reply.toast == "这一步已经完成了，可以用 /settings 修改。"
    assert (await harness.agent()).timezone == "Asia/Hong_Kong"


async def test_start_after_setup_welcomes_back_and_loses_nothing(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    before = await harness.agent()
    reply = await chat.send("/start")
    assert reply.texts[0].startswith("👋 欢迎回来，小王！你已经设置好了")
    assert "📝 每日复盘：每个工作日 21:30" in reply.texts[0]
    assert reply.last.labels == ["⚙️ 设置", "🔁 重新设置"]
    after = await harness.agent()
    assert (after.timezone, after.reflection_time, after.setup_step) == (
        before.timezone,
        before.reflection_time,
        None,
    )

    reply = await chat.press("🔁 重新设置")
    assert reply.last.labels == ["✓ 简体中文", "English", "繁體中文"]
    reply = await chat.press("✓ 简体中文")
    assert "✓ 香港" in reply.last.labels  # the earlier choice is the default
    assert len(await harness.agents()) == 1


async def test_a_renamed_agent_is_greeted_by_the_new_name(harness: Harness) -> None:
    await harness.chat(first_name="小王").send("/start")
    reply = await harness.chat(first_name="王经理").send("/start")
    assert reply.texts[0].startswith("👋 你好，王经理！")
    assert [a.display_name for a in await harness.agents()] == ["王经理"]
