"""/help, /cancel, the command menus, what happens to unexpected input, and the global error handler."""

from __future__ import annotations

import logging
import re

import pytest

from tests.handlers.test_onboarding import onboard
from tests.support import Harness


async def test_help_lists_the_commands_in_the_agents_language(harness: Harness) -> None:
    reply = await harness.chat(language_code="en").send("/help")
    [text] = reply.texts
    assert text.startswith("What I can do for you")
    for command in ("/start", "/settings", "/cancel", "/help", "/tip", "/topics", "/saved", "/reflect", "/journal"):
        assert command in text


async def test_default_menus_are_set_for_zh_and_en(harness: Harness) -> None:
    menus = harness.api.commands
    default = menus[('{"type": "default"}', "")]
    assert [c["command"] for c in default] == [
        "start",
        "client",
        "clients",
        "import",
        "followup",
        "today",
        "overdue",
        "stale",
        "tip",
        "topics",
        "saved",
        "reflect",
        "journal",
        "digest",
        "summary",
        "team",
        "settings",
        "privacy",
        "export",
        "delete_me",
        "help",
        "cancel",
    ]
    assert [c["description"] for c in default] == [
        "开始设置",
        "登记新客户",
        "我的客户",
        "从表格导入客户",
        "安排客户跟进",
        "今天要跟进的客户",
        "逾期的跟进",
        "快断联的客户",
        "来一条带教贴士",
        "按主题看贴士",
        "我收藏的贴士",
        "今日复盘",
        "我的复盘日记",
        "每周小结",
        "起草周工作总结",
        "我的团队",
        "查看和修改设置",
        "谁能看到我的数据",
        "导出我的全部数据",
        "删除我的全部数据",
        "我能做什么",
        "退出当前操作",
    ]
    assert menus[('{"type": "default"}', "zh")] == default
    assert menus[('{"type": "default"}', "en")][0]["description"] == "Set up the bot"


async def test_traditional_chinese_agent_gets_a_menu_for_their_chat(harness: Harness) -> None:
    await harness.chat(language_code="zh-hant").send("/start")
    menu = harness.api.commands[('{"chat_id": 1001, "type": "chat"}', "")]
    assert [c["description"] for c in menu] == [
        "開始設定",
        "登記新客戶",
        "我的客戶",
        "從表格匯入客戶",
        "安排客戶跟進",
        "今天要跟進的客戶",
        "逾期的跟進",
        "快斷聯的客戶",
        "來一條帶教貼士",
        "按主題看貼士",
        "我收藏的貼士",
        "今日復盤",
        "我的復盤日記",
        "每週小結",
        "起草週工作總結",
        "我的團隊",
        "檢視和修改設定",
        "誰看得到我的資料",
        "匯出我的所有資料",
        "刪除我的所有資料",
        "我能做什麼",
        "退出目前操作",
    ]


async def test_cancel_with_nothing_to_cancel(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    reply = await chat.send("/cancel")
    assert reply.texts == ["现在没有进行中的操作。需要帮助请发 /help。"]


async def test_cancel_leaves_a_settings_question(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    await chat.send("/settings")
    await chat.press("🕒 时区")
    reply = await chat.send("/cancel")
    assert reply.texts == ["好的，已取消。"]
    reply = await chat.send("东京")
    assert reply.texts[0].startswith("🤔 这句话里我没认出客户或时间")
    assert (await harness.agent()).timezone == "Asia/Hong_Kong"


async def test_unknown_command_and_unsupported_messages_get_a_pointer(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)
    assert (await chat.send("/dance")).texts == ["我不认识这个命令。发 /help 看看可用的命令。"]
    assert (await chat.send_sticker()).texts == ["这类消息我还看不懂，请发文字或使用按钮。"]


@pytest.mark.parametrize(
    "data", ["zz:1:2", "ob:language:klingon", "st:open:nothing", "st:reflection:99.99", "ob", "::"]
)
async def test_forged_buttons_are_refused_politely_and_change_nothing(harness: Harness, data: str) -> None:
    chat = harness.chat()
    await onboard(chat)
    before = await harness.agent()
    reply = await chat.press_data(data)
    assert reply.toast in ("这个按钮已经过期了，请用最新的消息操作。", "这一步已经完成了，可以用 /settings 修改。")
    assert reply.sent == [] and reply.edited == []
    after = await harness.agent()
    assert (after.language, after.reflection_time, after.updated_at) == (
        before.language,
        before.reflection_time,
        before.updated_at,
    )


async def test_forged_value_during_onboarding_is_refused(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    reply = await chat.press_data("ob:language:klingon")
    assert reply.toast == "这个按钮已经过期了，请用最新的消息操作。"
    assert (await harness.agent()).setup_step == "language"


async def test_a_failing_handler_apologises_in_the_agents_language_and_logs_the_update(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    chat = harness.chat(language_code="en")
    await chat.send("/start")
    harness.api.fail_next("sendMessage", 400, "Bad Request: chat not found")
    with caplog.at_level(logging.ERROR, logger="handlers.errors"):
        reply = await chat.send("/help")
    assert reply.texts == [
        "😥 Sorry, something went wrong on my side and that didn't go through. "
        "Please try again in a moment; everything you saved before is safe."
    ]
    [record] = [r for r in caplog.records if r.name == "handlers.errors"]
    assert re.fullmatch(r"error while handling update \d+", record.getMessage())
    assert record.exc_info is not None and "Chat not found" in str(record.exc_info[1])
    # The bot keeps running: the next message is handled normally.
    assert (await chat.send("/help")).texts[0].startswith("What I can do for you")


async def test_a_failed_reply_never_loses_the_answer(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    harness.api.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    reply = await chat.press("English")
    assert reply.texts == [
        "😥 Sorry, something went wrong on my side and that didn't go through. "
        "Please try again in a moment; everything you saved before is safe."
    ]
    agent = await harness.agent()
    assert (agent.language, agent.setup_step) == ("en", "timezone")  # saved before any reply was sent
    reply = await chat.send("/start")
    assert reply.sent[-1].text.startswith("🕒 Which time zone")


async def test_a_failing_button_press_still_gets_an_apology(harness: Harness) -> None:
    chat = harness.chat()
    await chat.send("/start")
    harness.api.fail_next("editMessageText", 400, "Bad Request: message can't be edited")
    reply = await chat.press("简体中文")
    assert reply.texts == ["😥 抱歉，我这边出了点问题，刚才的操作没有完成。请稍后再试一次；你之前保存的内容都还在。"]


async def test_blocked_bot_gets_no_apology(harness: Harness) -> None:
    chat = harness.chat()
    harness.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    reply = await chat.send("/help")
    assert reply.sent == []
    assert [c.method for c in harness.api.calls].count("sendMessage") == 1
