"""The same thing is said the same way everywhere: counts in English, weekdays, time zones, Taiwan words.

Each test reads what the agent sees through the handlers (issue 12, section 4).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.i18n import catalog, t
from bot.preferences import weekday_name
from runtime.local_api import LocalChat
from tests.handlers.test_followups import agent_with_client
from tests.handlers.test_onboarding import onboard
from tests.support import Harness

WIDE_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def everything_shown(harness: Harness) -> list[str]:
    """Every message text and button label the bot sent or edited in this test."""
    shown: list[str] = []
    for _, text, rows in harness.api.sent_texts():
        shown += [text, *(label for row in rows for label, _ in row)]
    return [text for text in shown if text]


# ------------------------------------------------------------------------------------------- English plurals


async def test_english_counts_agree_with_their_nouns_in_lists_and_the_journal(harness: Harness) -> None:
    chat, _ = await agent_with_client(harness, language_code="en")
    await chat.send("/followup 王先生 in 2 hours")
    await chat.press("✅ Confirm")
    assert (await chat.send("/today")).texts[0] == "📋 1 follow-up today:"
    await chat.send("/followup 王先生 in 3 hours")
    await chat.press("✅ Confirm")
    await chat.press("➕ Add another")  # 王先生 already has one open: add, not replace
    assert (await chat.send("/today")).texts[0] == "📋 2 follow-ups today, in order:"
    harness.clock.advance(timedelta(hours=2, minutes=30))
    assert (await chat.send("/overdue")).texts[0] == "⚠️ 1 overdue follow-up; the sooner the better:"
    await chat.send("/settings tip off")

    harness.clock.set(datetime(2026, 11, 26, 13, 0, tzinfo=UTC))
    await chat.send("/reflect")
    for _ in range(6):
        await chat.press("Skip this one")
    journal = (await chat.send("/journal")).texts[0]
    assert journal.startswith("📔 My journal (1 day · page 1/1)\n🔥 Streak: 1 work day\n")
    shown = everything_shown(harness)
    assert [text for text in shown if "(s)" in text or re.search(r"\b1 (days|work days|clients|tips)\b", text)] == []


@pytest.mark.parametrize(("count", "expected"), [(0, "0 work days"), (1, "1 work day"), (2, "2 work days")])
def test_the_streak_fragment_counts_in_english_and_once_in_chinese(count: int, expected: str) -> None:
    assert catalog().text("en", "reflect.work_days", count=count) == expected
    assert catalog().text("zh-Hans", "reflect.work_days", count=count) == f"{count} 个工作日"
    assert catalog().text("zh-Hant", "reflect.work_days", count=count) == f"{count} 個工作日"


# ------------------------------------------------------------------------------------------- weekdays


OTHER_STYLE = {
    "zh-hans": re.compile(r"星期|礼拜|週"),
    "zh-hant": re.compile(r"星期|禮拜|周[一二三四五六日天]"),
    "en": re.compile("|".join(WIDE_DAY_NAMES)),
}


@pytest.mark.parametrize(("code", "language"), [("zh-hans", "简体中文"), ("zh-hant", "繁體中文"), ("en", "English")])
async def test_one_weekday_style_per_language_in_every_reply(harness: Harness, code: str, language: str) -> None:
    chat = harness.chat(language_code=code)
    await onboard(chat, language=language)
    await chat.send("/settings digest sun 20:00")
    await chat.send("/settings workdays 1,3,5")
    await chat.send("/settings")
    await chat.press(chat.last_with_buttons().labels[4])  # type: ignore[union-attr]  # the digest: weekday buttons
    lang = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}[code]
    harness.clock.set(datetime(2026, 11, 27, 13, 0, tzinfo=UTC))
    await chat.send("/reflect")
    for _ in range(6):
        await chat.press(t(lang, "reflect.button.skip_question"))
    await chat.send("/journal")
    shown = everything_shown(harness)
    assert any(weekday_name(7, lang) in text for text in shown)  # the style is there…
    assert [text for text in shown if OTHER_STYLE[code].search(text)] == []  # …and never the other one


# ------------------------------------------------------------------------------------------- time zones


async def typed_zone(harness: Harness, code: str, language: str, city: str) -> tuple[LocalChat, str, list[str]]:
    """Onboard, typing `city` for the time zone: the echo, and everything shown after it."""
    chat = harness.chat(language_code=code)
    await chat.send("/start")
    await chat.press(language)
    before = len(everything_shown(harness))
    echo = (await chat.send(city)).texts[0]
    await chat.press("21:30")
    await chat.press(chat.last_with_buttons().labels[-1])  # type: ignore[union-attr]
    await chat.press(chat.last_with_buttons().labels[2])  # type: ignore[union-attr]
    await chat.press("20:00")
    await chat.press("08:30")
    await chat.send("/settings")
    return chat, echo, everything_shown(harness)[before:]


TYPED_CITIES = {
    "墨尔本": (
        "zh-hans",
        "简体中文",
        "✓ 时区：墨尔本（澳大利亚东部时间，UTC+11:00）",
        "🕒 时区：墨尔本（澳大利亚东部时间，UTC+11:00）",
    ),
    "深圳": ("zh-hans", "简体中文", "✓ 时区：深圳（中国时间，UTC+08:00）", "🕒 时区：深圳（中国时间，UTC+08:00）"),
    "墨爾本": (
        "zh-hant",
        "繁體中文",
        "✓ 時區：墨爾本（澳洲東部時間，UTC+11:00）",
        "🕒 時區：墨爾本（澳洲東部時間，UTC+11:00）",
    ),
    "Melbourne": (
        "en",
        "English",
        "✓ Time zone: Melbourne (Australian Eastern Time, UTC+11:00)",
        "🕒 Time zone: Melbourne (Australian Eastern Time, UTC+11:00)",
    ),
}
ZONES = {"墨尔本": "Australia/Melbourne", "深圳": "Asia/Shanghai", "墨爾本": "Australia/Melbourne"}


@pytest.mark.parametrize("city", TYPED_CITIES)
async def test_a_typed_city_is_echoed_and_no_reply_shows_a_zone_id_or_another_city(harness: Harness, city: str) -> None:
    code, language, echo, summary = TYPED_CITIES[city]
    _, shown_echo, after = await typed_zone(harness, code, language, city)
    assert shown_echo == echo
    assert any(summary in text for text in after)
    agent = await harness.agent()
    assert (agent.timezone, agent.timezone_place) == (ZONES.get(city, "Australia/Melbourne"), city)
    assert [text for text in after if "/" in text.replace("</", "") and re.search(r"[A-Z][a-z]+/[A-Z]", text)] == []
    assert [text for text in after if "北京" in text or "上海" in text] == []


async def test_the_zone_of_a_tapped_city_and_of_an_offset(harness: Harness) -> None:
    chat = harness.chat()
    await onboard(chat)  # taps 香港
    await chat.send("/settings tz UTC+9")
    assert (await chat.send("/settings")).texts[0].count("🕒 时区：UTC+09:00") == 1
    reply = await chat.send("/settings tz Asia/Tokyo")
    assert reply.texts == ["✅ 已更新 时区：日本时间（UTC+09:00）"]
    await chat.send("/settings tz 深圳")
    assert "🕒 时区：深圳（中国时间，UTC+08:00）" in (await chat.send("/settings")).texts[0]
    await chat.send("/settings tz Asia/Shanghai")  # a zone id, not a place: the typed place is forgotten
    assert (await harness.agent()).timezone_place is None
    assert "🕒 时区：中国时间（UTC+08:00）" in (await chat.send("/settings")).texts[0]


# ------------------------------------------------------------------------------------------- zh-Hant words


async def test_traditional_replies_use_taiwan_words_and_corner_quotes(harness: Harness) -> None:
    chat = harness.chat(language_code="zh-hant")
    await onboard(chat, language="繁體中文")
    await chat.send("/help")
    await chat.send("/settings")
    await chat.send("/settings digest 20:00")  # the form with quotes
    await chat.send("/client")
    shown = everything_shown(harness)
    mainland = ("默認", "保存", "聯繫", "当前", "當前", "設置", "消息", "“", "”")
    assert [text for text in shown if any(word in text for word in mainland)] == []
    assert any("「" in text for text in shown) and any("預設" in text for text in shown)
