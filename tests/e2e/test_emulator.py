"""The real `agentcoach run` process against a fake Telegram Bot API, played by a scripted user.

The in-process tests cover the handlers; only these catch what lives between them and Telegram: the console
script, settings from the environment, the migration at start, PTB's polling, the command menus, the log
redaction, and what survives a crash (kill -9) because it was committed, not merely held in memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

import pytest

from handlers.menus import COMMANDS
from tests.e2e.conftest import TOKEN, BotRunner, Emulator, EmulatorServer, Message

pytestmark = pytest.mark.e2e

WAIT = 30.0  # each wait for the bot; generous for a slow CI machine, normally well under a second
# The summary shows one setting per line, each behind its emoji.
SUMMARY_MARKS = ("🌐", "🕒", "📝", "📅", "📊", "💡", "🔔")


@dataclass(frozen=True)
class Case:
    """One agent's way through onboarding, and what the confirmation must then show."""

    language_code: str  # what the Telegram app reports
    language: str  # what the agent picks: ob:language:<language>
    chat: int
    timezone: tuple[str, str]  # ("press", IANA name) or ("type", what the agent types)
    reflection: str  # button value, 21.30 style
    toggle_days: tuple[int, ...]  # work days switched from the default Mon–Sat
    digest_day: int
    digest_time: str
    tip: tuple[str, str]  # ("press", "08.30" | "off") or ("type", text)
    done: str  # marks the confirmation
    foreign: str  # a pattern of characters that must not appear: the other languages' scripts
    expected: tuple[str, ...]  # values that must appear in both the confirmation and the panel


# Characters only Simplified or only Traditional Chinese writes (设/設, 选/選, 语/語, 时/時, 复/復, 关/關 …).
SIMPLIFIED_ONLY = "设选语时复关贴总结间区"
TRADITIONAL_ONLY = "設選語時復關貼總結間區"
CASES = [
    Case(
        language_code="zh-hans",
        language="zh-Hans",
        chat=710001,
        timezone=("type", "Asia/Hong_Kong"),
        reflection="21.30",
        toggle_days=(7,),
        digest_day=6,
        digest_time="19.00",
        tip=("press", "08.30"),
        done="设置完成",
        foreign=f"[A-Za-z]{{4,}}|[{TRADITIONAL_ONLY}]",
        expected=("简体中文", "香港时间", "21:30", "周一至周日", "周六", "19:00", "08:30"),
    ),
    Case(
        language_code="en",
        language="en",
        chat=710002,
        timezone=("type", "Vancouver"),
        reflection="22.00",
        toggle_days=(6,),
        digest_day=5,
        digest_time="18.00",
        tip=("press", "07.30"),
        done="All set",
        foreign=r"[\u3000-\u9fff\uff00-\uffef]",
        expected=("English", "Pacific Time", "22:00", "Mon–Fri", "Fri", "18:00", "07:30"),
    ),
    # zh-Hant comes from zh-Hans through OpenCC and the glossary (設置 → 設定); it must be Traditional throughout.
    Case(
        language_code="zh-hant",
        language="zh-Hant",
        chat=710003,
        timezone=("press", "Asia/Taipei"),
        reflection="21.30",
        toggle_days=(),
        digest_day=7,
        digest_time="21.00",
        tip=("type", "關"),
        done="設定完成",
        foreign=f"[A-Za-z]{{4,}}|[{SIMPLIFIED_ONLY}]",
        expected=("繁體中文", "台北時間", "21:30", "週一至週六", "週日", "21:00", "關閉"),
    ),
]


def assert_in_language(text: str, case: Case) -> None:
    """Every value is there, and nothing of another language is (the IANA zone names aside)."""
    for value in case.expected:
        assert value in text, f"{value!r} missing from:\n{text}"
    without_commands = re.sub(r"/\w+|Asia/\w+|America/\w+|UTC[+-]\d\d:\d\d", "", text)
    stray = re.findall(case.foreign, without_commands)
    assert stray == [], f"{stray} in a {case.language} text:\n{text}"


def question(server: EmulatorServer, messages: list[Message], step: str) -> Message:
    """The one message among `messages` asking onboarding question `step` (its buttons say ob:<step>:…)."""
    asking = [m for m in messages if any(d.startswith(f"ob:{step}:") for _, d in server.buttons(m))]
    assert len(asking) == 1, f"expected one {step} question, got {[m.get('text') for m in messages]}"
    return asking[0]


def has_button(server: EmulatorServer, message: Message, data: str) -> bool:
    return any(d == data for _, d in server.buttons(message))


def press(
    server: EmulatorServer, emu: Emulator, chat: int, asked: Message, data: str, following: str | None
) -> tuple[str, list[Message]]:
    """Press a button on the question `asked`: it becomes the answered line, then the next question comes."""
    assert has_button(server, asked, data), f"{data} not among {server.buttons(asked)}"
    emu.press(chat, data, asked["message_id"])
    fresh = emu.wait_replies(chat, 1, timeout=WAIT)
    answered = emu.wait_edit(chat, asked["message_id"], timeout=WAIT, after=asked["edits"])
    assert server.buttons(answered) == [], "an answered question must lose its buttons"
    if following is not None:
        question(server, fresh, following)
    return str(answered["text"]), fresh


def type_answer(
    server: EmulatorServer, emu: Emulator, chat: int, text: str, following: str | None
) -> tuple[str, list[Message]]:
    """Type an answer: the bot replies with the answered line, then asks the next question (or confirms)."""
    emu.send_text(chat, text)
    fresh = emu.wait_replies(chat, 2, timeout=WAIT)
    if following is not None:
        question(server, fresh, following)
    return str(fresh[0]["text"]), fresh


def toggle_work_day(server: EmulatorServer, emu: Emulator, chat: int, asked: Message, day: int) -> Message:
    """A day button switches that day and redraws the keyboard in place; nothing new is sent."""
    before = {d: text for text, d in server.buttons(asked)}[f"ob:workdays:{day}"]
    emu.press(chat, f"ob:workdays:{day}", asked["message_id"])
    redrawn = emu.wait_edit(chat, asked["message_id"], timeout=WAIT, after=asked["edits"])
    after = {d: text for text, d in server.buttons(redrawn)}[f"ob:workdays:{day}"]
    assert before.startswith("✓ ") != after.startswith("✓ "), (before, after)
    return redrawn


def summary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(SUMMARY_MARKS)]


def onboard(server: EmulatorServer, emu: Emulator, case: Case) -> Message:
    """Walk `case` through every onboarding question; returns the confirmation."""
    chat = case.chat
    emu.send_text(chat, "/start")
    greeting = emu.wait_replies(chat, 2, timeout=WAIT)
    asked = question(server, greeting, "language")
    checked = [d for text, d in server.buttons(asked) if text.startswith("✓ ")]
    assert checked == [f"ob:language:{case.language}"], "the app's language must be offered as the default"

    _, fresh = press(server, emu, chat, asked, f"ob:language:{case.language}", "timezone")
    how, zone = case.timezone
    if how == "type":
        line, fresh = type_answer(server, emu, chat, zone, "reflection")
    else:
        line, fresh = press(server, emu, chat, question(server, fresh, "timezone"), f"ob:timezone:{zone}", "reflection")
    assert case.expected[1] in line, line

    line, fresh = press(
        server, emu, chat, question(server, fresh, "reflection"), f"ob:reflection:{case.reflection}", "workdays"
    )
    assert case.reflection.replace(".", ":") in line, line

    asked = question(server, fresh, "workdays")
    for day in case.toggle_days:
        asked = toggle_work_day(server, emu, chat, asked, day)
    _, fresh = press(server, emu, chat, asked, "ob:workdays:done", "digest_day")
    _, fresh = press(
        server, emu, chat, question(server, fresh, "digest_day"), f"ob:digest_day:{case.digest_day}", "digest_time"
    )
    _, fresh = press(
        server, emu, chat, question(server, fresh, "digest_time"), f"ob:digest_time:{case.digest_time}", "tip"
    )
    how, tip = case.tip
    if how == "type":
        _, fresh = type_answer(server, emu, chat, tip, None)
    else:
        _, fresh = press(server, emu, chat, question(server, fresh, "tip"), f"ob:tip:{tip}", None)
    confirmation = fresh[-1]
    assert has_button(server, confirmation, "st:open:panel"), server.buttons(confirmation)
    return confirmation


def assert_every_press_answered(emu: Emulator) -> None:
    """An unanswered callback query leaves the user's button spinning in a real client."""
    unanswered = [a["data"] for a in emu.callback_answers() if not a["answer"]]
    assert unanswered == []


def chat_menu(emu: Emulator, chat: int) -> list[dict[str, str]]:
    """The command menu last set for `chat` alone (setMyCommands with a chat scope)."""
    menus = []
    for call in emu.calls("setMyCommands"):
        scope = call["params"].get("scope")
        scope = json.loads(scope) if isinstance(scope, str) else scope
        if scope and scope.get("type") == "chat" and int(scope.get("chat_id")) == chat:
            commands = call["params"]["commands"]
            menus.append(json.loads(commands) if isinstance(commands, str) else commands)
    assert menus, f"no command menu was set for chat {chat}"
    menu: list[dict[str, str]] = menus[-1]
    return menu


@pytest.mark.parametrize("case", CASES, ids=[case.language for case in CASES])
def test_onboarding_survives_a_crash(
    emulator_server: EmulatorServer, emu: Emulator, bot: BotRunner, case: Case
) -> None:
    """Onboarding by buttons and typed answers; after kill -9 and a restart, /settings shows the same choices."""
    server, chat = emulator_server, case.chat
    emu.set_user(chat, "Tester", language_code=case.language_code)
    first = bot.start()
    assert emu.calls("setMyCommands"), "the command menus are set at start-up"

    confirmation = onboard(server, emu, case)
    text = str(confirmation["text"])
    assert case.done in text, text
    assert_in_language(text, case)
    assert len(summary_lines(text)) == len(SUMMARY_MARKS), text
    assert emu.wait_quiet(chat, quiet=0.5, timeout=WAIT) == [], "nothing may follow the confirmation"
    assert_every_press_answered(emu)
    menu = chat_menu(emu, chat)
    assert [command["command"] for command in menu] == list(COMMANDS)
    descriptions = " ".join(command["description"] for command in menu)
    assert not re.findall(case.foreign, descriptions), f"the chat's menu is not in {case.language}: {menu}"

    # No pause before the crash: the bot commits an answer before it replies, so a reply seen is a save made.
    first.crash()
    second = bot.start()
    emu.send_text(chat, "/settings")
    [panel] = emu.wait_replies(chat, 1, timeout=WAIT)
    panel_text = str(panel["text"])
    assert panel_text.startswith("⚙️"), panel_text
    assert_in_language(panel_text, case)
    assert summary_lines(panel_text) == summary_lines(text), "the settings must survive the crash"
    assert has_button(server, panel, "st:close:panel")

    assert second.stop() == 0, "SIGTERM must shut the bot down cleanly"
    logs = bot.logs()
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs, "the bot token leaked into the log"


def test_restart_in_the_middle_of_onboarding(emulator_server: EmulatorServer, emu: Emulator, bot: BotRunner) -> None:
    """The open question is stored, not kept in memory: after kill -9, a typed time answers the same question."""
    server, chat = emulator_server, 710010
    emu.set_user(chat, "Tester", language_code="zh-hans")
    first = bot.start()
    emu.send_text(chat, "/start")
    asked = question(server, emu.wait_replies(chat, 2, timeout=WAIT), "language")
    _, fresh = press(server, emu, chat, asked, "ob:language:zh-Hans", "timezone")
    _, fresh = press(server, emu, chat, question(server, fresh, "timezone"), "ob:timezone:Asia/Shanghai", "reflection")

    # No pause before the crash: the bot commits an answer before it replies, so a reply seen is a save made.
    first.crash()
    bot.start()
    line, fresh = type_answer(server, emu, chat, "21:45", "workdays")
    assert "21:45" in line and "复盘" in line, line

    emu.send_text(chat, "/settings")
    [panel] = emu.wait_replies(chat, 1, timeout=WAIT)
    assert "21:45" in str(panel["text"]) and "中国时间" in str(panel["text"]), panel["text"]
    assert "E2E-TEST" not in bot.logs()


def test_a_nudge_due_while_the_bot_was_dead_arrives_once_marked_late(
    emulator_server: EmulatorServer, emu: Emulator, bot: BotRunner
) -> None:
    """Schedule a follow-up two minutes ahead, kill -9 the bot, restart it after the due time (its clock set four
    minutes on, so nobody waits): the nudge comes exactly once, marked late."""
    server, chat = emulator_server, 710020
    emu.set_user(chat, "小张", language_code="zh-hans")
    first = bot.start()
    onboard(server, emu, replace(CASES[0], chat=chat))
    emu.send_text(chat, "/client 王先生 13800138000 三居 预算300万")
    emu.wait_replies(chat, 1, timeout=WAIT)
    # Two minutes ahead: due times are kept to the minute, so "in 1 minute" left as little as a second to press ✅
    # before the time was past (and the bot rightly asks for another); the restart below is four minutes on.
    emu.send_text(chat, "/followup 王先生 in 2 minutes 带看新房")
    [echo] = emu.wait_replies(chat, 1, timeout=WAIT)
    assert "王先生" in str(echo["text"]) and "带看新房" in str(echo["text"]), echo["text"]
    confirm = next(data for _, data in server.buttons(echo) if data.startswith("fu:ok:"))
    emu.press(chat, confirm, echo["message_id"])
    saved = emu.wait_edit(chat, echo["message_id"], timeout=WAIT, after=echo["edits"])
    assert str(saved["text"]).startswith("✅ 已安排"), saved["text"]

    first.crash()
    bot.start(CLOCK_OFFSET_SECONDS="240")
    [nudge] = emu.wait_replies(chat, 1, timeout=WAIT)
    text = str(nudge["text"])
    assert text.startswith("⏰ 跟进提醒：王先生") and "迟到的提醒" in text and "带看新房" in text, text
    assert {data.split(":")[1] for _, data in server.buttons(nudge)} == {"done", "snooze", "move", "card"}
    # Several sweeps later (one a second), still exactly one nudge.
    assert emu.wait_quiet(chat, quiet=3.0, timeout=WAIT) == []
    nudges = [m for m in emu.messages(chat) if str(m.get("text", "")).startswith("⏰ 跟进提醒")]
    assert len(nudges) == 1


def test_the_digest_and_the_draft_arrive_as_a_photo_and_two_files(
    emulator_server: EmulatorServer, emu: Emulator, bot: BotRunner
) -> None:
    """Through real HTTP: /digest is one photo (the chart, uploaded) with the week as its caption and its buttons;
    /summary is the draft as a message, then the same draft as .docx and .md documents."""
    server, chat = emulator_server, 710030
    emu.set_user(chat, "小李", language_code="zh-hans")
    bot.start()
    onboard(server, emu, replace(CASES[0], chat=chat))
    emu.send_text(chat, "/client 王先生 三居 预算300万")
    emu.wait_replies(chat, 1, timeout=WAIT)
    emu.send_text(chat, "/digest")
    [digest] = emu.wait_replies(chat, 1, timeout=WAIT)
    assert "photo" in digest and str(digest["caption"]).startswith("📊 本周小结"), digest
    assert "🆕 新登记客户 1 位（上周 0）" in str(digest["caption"])
    width, height = digest["photo"][-1]["width"], digest["photo"][-1]["height"]
    assert (width, height) == (960, 720)
    assert {data.split(":")[1] for _, data in server.buttons(digest) if data.startswith("dg:")} == {
        "sum",
        "week",
        "set",
    }
    emu.send_text(chat, "/summary")
    *drafts, docx, md = emu.wait_replies(chat, 3, timeout=WAIT)
    assert str(drafts[0]["text"]).startswith("周工作总结（")
    assert str(docx["document"]["file_name"]).endswith(".docx") and docx["document"]["file_size"] > 10_000
    assert str(md["document"]["file_name"]).endswith(".md")
