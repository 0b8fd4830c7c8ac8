"""The draft 周工作总结 (bot/weekly_summary.py), from the rule: a seeded week gives exactly the numbers and lines
written below by hand, in zh-Hans, zh-Hant and en; a thin week gives a short honest draft; no phone number and
nothing but the report's own lines and the templates' words ever appear; messages split within Telegram's limit
and stay valid HTML; the .docx opens and has its headings."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from docx import Document
from docx.oxml.ns import qn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot import weekly_summary
from bot.week import Booked, Numbers, Report, TipChoice, Week, Written
from bot.weekly_summary import (
    PLACEHOLDERS,
    Draft,
    as_docx,
    as_markdown,
    as_messages,
    draft,
    file_name,
    load_template,
    redact,
    strings,
    template,
)
from content import content_path

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = Week(date(2026, 11, 30))  # Monday 30 Nov – Sunday 6 Dec 2026
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=ZoneInfo("UTC"))
TIP = "每天收工前，把明天要回访的客户排好时间。"

LESSONS = (
    Written(date(2026, 12, 4), "先听客户说完需求，再推荐房源。"),
    Written(date(2026, 12, 2), "带看前自己先把路线走一遍，客户问到学校和地铁都答得上。"),
)
WENT_WELL = (Written(date(2026, 12, 3), "王先生约了第二次带看"),)
TO_IMPROVE = (Written(date(2026, 12, 5), "回访拖到晚上才打，客户已经休息了"),)
PLANS = (Written(date(2026, 12, 6), "周一上午整理意向客户名单"), Written(date(2026, 12, 5), "约李女士复看"))
BOOKED = (
    Booked(datetime(2026, 12, 10, 15, 30, tzinfo=SHANGHAI), "李女士", None),
    Booked(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI), "王先生", "复看三室两厅"),
)


def seeded(language: str = "zh-Hans", **changes: Any) -> Report:
    """One worked week: 5 reflections, 8 clients received, 2 new, 6 contacts, 4 follow-ups (3 on time, 1 late),
    2 still overdue, 2 clients to 带看 and 1 to 成交; and the week before, smaller."""
    this = Numbers(
        WEEK,
        reflections_done=5,
        streak=7,
        clients_received=8,
        new_clients=2,
        contacts={"call": 3, "message": 2, "viewing": 1},
        follow_ups_done=4,
        done_on_time=3,
        done_late=1,
        still_overdue=2,
        stage_moves={"viewing": 2, "closed": 1},
        mood_average=3.5,
    )
    last = Numbers(
        WEEK.before(), reflections_done=3, streak=3, clients_received=5, contacts={"call": 1}, follow_ups_done=2
    )
    report = Report(
        agent_id=1,
        language=language,
        zone="Asia/Shanghai",
        now=NOW,
        this=this,
        last=last,
        lessons=LESSONS,
        went_well=WENT_WELL,
        to_improve=TO_IMPROVE,
        plans=PLANS,
        booked=BOOKED,
        overdue_clients=("李女士", "张先生"),
        tip=TipChoice("follow-up-same-day", "follow-up", "overdue"),
    )
    return replace(report, **changes)


def empty(language: str = "zh-Hans", **changes: Any) -> Report:
    report = Report(1, language, "Asia/Shanghai", NOW, Numbers(WEEK), Numbers(WEEK.before()))
    return replace(report, **changes)


EXPECTED = {
    "zh-Hans": """\
# 周工作总结（11月30日–12月6日）

本周（11月30日–12月6日）我在助手里记录了：5 次复盘、接待 8 位客户、2 位新客户、6 次客户联系、\
4 次跟进、3 次客户阶段变化。

## 本周工作

- 完成每日复盘 5 次（上周 3）。
- 已连续复盘 7 个工作日。
- 接待客户 8 位（上周 5）。
- 新登记客户 2 位（上周 0）。
- 联系客户 6 次（上周 1）：电话 3 次、微信 2 次、带看 1 次。
- 完成跟进 4 次（上周 2），其中按时 3 次、逾期后完成 1 次。
- 客户阶段变化：带看 2 位、成交 1 位。

## 本周收获

- 先听客户说完需求，再推荐房源。
- 带看前自己先把路线走一遍，客户问到学校和地铁都答得上。
- 王先生约了第二次带看

## 不足之处

- 回访拖到晚上才打，客户已经休息了
- 还有 2 个跟进逾期未完成（客户：李女士、张先生）。

## 下周计划

- 周一上午整理意向客户名单
- 约李女士复看
- 周二 10:00 王先生 — 复看三室两厅
- 周四 15:30 李女士
- 下周尝试：每天收工前，把明天要回访的客户排好时间。
""",
    # The template's words in Traditional script; the agent's own lines stay exactly as they were typed.
    "zh-Hant": """\
# 週工作總結（11月30日–12月6日）

本週（11月30日–12月6日）我在助手裡記錄了：5 次復盤、接待 8 位客戶、2 位新客戶、6 次客戶聯絡、\
4 次跟進、3 次客戶階段變化。

## 本週工作

- 完成每日復盤 5 次（上週 3）。
- 已連續復盤 7 個工作日。
- 接待客戶 8 位（上週 5）。
- 新登記客戶 2 位（上週 0）。
- 聯絡客戶 6 次（上週 1）：電話 3 次、微信 2 次、帶看 1 次。
- 完成跟進 4 次（上週 2），其中按時 3 次、逾期後完成 1 次。
- 客戶階段變化：帶看 2 位、成交 1 位。

## 本週收穫

- 先听客户说完需求，再推荐房源。
- 带看前自己先把路线走一遍，客户问到学校和地铁都答得上。
- 王先生约了第二次带看

## 不足之處

- 回访拖到晚上才打，客户已经休息了
- 還有 2 個跟進逾期未完成（客戶：李女士、张先生）。

## 下週計畫

- 周一上午整理意向客户名单
- 约李女士复看
- 週二 10:00 王先生 — 复看三室两厅
- 週四 15:30 李女士
- 下週嘗試：每天收工前，把明天要回访的客户排好时间。
""",
    "en": """\
# Weekly work summary (30 Nov – 6 Dec)

This week (30 Nov – 6 Dec) I recorded 5 reflections, 8 clients received, 2 new clients, 6 client contacts, \
4 follow-ups done and 3 stage moves.

## What I did this week

- Did my daily reflection 5 times (last week 3).
- Reflection streak: 7 work days in a row.
- Received 8 clients (last week 5).
- Registered 2 new clients (last week 0).
- Contacted clients 6 times (last week 1): 3 calls, 2 WeChat messages and 1 viewing.
- Completed 4 follow-ups (last week 2): 3 on time and 1 late.
- Stage moves: 2 to Viewing and 1 to Closed.

## What I learned

- 先听客户说完需求，再推荐房源。
- 带看前自己先把路线走一遍，客户问到学校和地铁都答得上。
- 王先生约了第二次带看

## Where I fell short

- 回访拖到晚上才打，客户已经休息了
- 2 follow-ups are still overdue (李女士 and 张先生).

## Plan for next week

- 周一上午整理意向客户名单
- 约李女士复看
- Tue 10:00 王先生 — 复看三室两厅
- Thu 15:30 李女士
- Try next week: 每天收工前，把明天要回访的客户排好时间。
""",
}


def every_line(found: Draft) -> list[str]:
    return [found.title, *(line for s in found.sections for line in (*s.paragraphs, *s.bullets))]


def docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in Document(io.BytesIO(data)).paragraphs)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------------------------
# The seeded week


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_the_seeded_week_is_written_exactly(language: str) -> None:
    assert as_markdown(draft(seeded(language), tip_text=TIP)) == EXPECTED[language]


def test_the_seeded_week_in_one_telegram_message() -> None:
    found = draft(seeded("en"), tip_text="Confirm tomorrow's calls <before> you leave & rest.")
    assert as_messages(found) == [
        "<b>Weekly work summary (30 Nov – 6 Dec)</b>\n\n"
        "This week (30 Nov – 6 Dec) I recorded 5 reflections, 8 clients received, 2 new clients, 6 client contacts"
        ", 4 follow-ups done and 3 stage moves.\n\n"
        "<b>What I did this week</b>\n"
        "• Did my daily reflection 5 times (last week 3).\n"
        "• Reflection streak: 7 work days in a row.\n"
        "• Received 8 clients (last week 5).\n"
        "• Registered 2 new clients (last week 0).\n"
        "• Contacted clients 6 times (last week 1): 3 calls, 2 WeChat messages and 1 viewing.\n"
        "• Completed 4 follow-ups (last week 2): 3 on time and 1 late.\n"
        "• Stage moves: 2 to Viewing and 1 to Closed.\n\n"
        "<b>What I learned</b>\n"
        "• 先听客户说完需求，再推荐房源。\n"
        "• 带看前自己先把路线走一遍，客户问到学校和地铁都答得上。\n"
        "• 王先生约了第二次带看\n\n"
        "<b>Where I fell short</b>\n"
        "• 回访拖到晚上才打，客户已经休息了\n"
        "• 2 follow-ups are still overdue (李女士 and 张先生).\n\n"
        "<b>Plan for next week</b>\n"
        "• 周一上午整理意向客户名单\n"
        "• 约李女士复看\n"
        "• Tue 10:00 王先生 — 复看三室两厅\n"
        "• Thu 15:30 李女士\n"
        "• Try next week: Confirm tomorrow's calls &lt;before&gt; you leave &amp; rest."
    ]


def test_singular_forms_and_what_is_zero_is_left_out() -> None:
    this = Numbers(WEEK, reflections_done=1, streak=1, contacts={"visit": 1}, follow_ups_done=1, done_late=1)
    last = Numbers(WEEK.before())  # nothing last week: no "(last week 0)" beside every line
    found = draft(empty("en", this=this, last=last))
    did = found.section("did")
    assert did is not None and did.bullets == (
        "Did my daily reflection 1 time.",
        "Reflection streak: 1 work day in a row.",
        "Contacted clients 1 time: 1 visit.",
        "Completed 1 follow-up: 1 late.",
    )
    assert found.section("learned") is None and found.section("short") is None


def test_the_lessons_and_plans_are_the_agents_lines_verbatim() -> None:
    found = draft(seeded())
    learned, plan = found.section("learned"), found.section("plan")
    assert learned is not None and plan is not None
    assert learned.bullets == tuple(w.text for w in (*LESSONS, *WENT_WELL))
    assert plan.bullets[:2] == tuple(w.text for w in PLANS)


def test_a_line_written_twice_appears_once() -> None:
    found = draft(seeded(went_well=(LESSONS[0],)))
    learned = found.section("learned")
    assert learned is not None and learned.bullets == tuple(w.text for w in LESSONS)


def test_overdue_follow_ups_without_names_and_names_without_a_count() -> None:
    only_count = draft(seeded(overdue_clients=()))
    only_names = draft(seeded(this=replace(seeded().this, still_overdue=0)))
    assert only_count.section("short").bullets[-1] == "还有 2 个跟进逾期未完成。"  # type: ignore[union-attr]
    assert only_names.section("short").bullets[-1] == "跟进逾期的客户：李女士、张先生。"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("start", "language", "title"),
    [
        (date(2025, 12, 1), "zh-Hans", "周工作总结（12月1日–12月7日）"),
        (date(2025, 12, 1), "zh-Hant", "週工作總結（12月1日–12月7日）"),
        (date(2025, 12, 1), "en", "Weekly work summary (1–7 Dec)"),
        (date(2025, 12, 29), "en", "Weekly work summary (29 Dec – 4 Jan)"),
        (date(2025, 12, 29), "zh-Hans", "周工作总结（12月29日–1月4日）"),
    ],
)
def test_the_title_names_the_week(start: date, language: str, title: str) -> None:
    report = empty(language, this=Numbers(Week(start)), last=Numbers(Week(start).before()))
    assert draft(report).title == title


@pytest.mark.parametrize(
    ("language", "extension", "name"),
    [
        ("zh-Hans", "docx", "周工作总结_2026-11-30.docx"),
        ("zh-Hant", "docx", "週工作總結_2026-11-30.docx"),
        ("en", "docx", "weekly-summary_2026-11-30.docx"),
        ("en", ".md", "weekly-summary_2026-11-30.md"),
    ],
)
def test_file_names(language: str, extension: str, name: str) -> None:
    assert file_name(draft(empty(language)), extension) == name


# ---------------------------------------------------------------------------------------------------------------
# A thin week


def test_an_empty_week_is_a_short_honest_draft() -> None:
    found = draft(empty())
    assert as_markdown(found) == (
        "# 周工作总结（11月30日–12月6日）\n\n"
        "本周（11月30日–12月6日）没有记录到复盘、客户或跟进。\n\n"
        "## 下周计划\n\n"
        "- 下周计划待补充。\n"
    )
    assert [s.key for s in found.sections] == ["opening", "plan"]
    assert as_markdown(draft(empty("en"))) == (
        "# Weekly work summary (30 Nov – 6 Dec)\n\n"
        "Nothing was recorded this week (30 Nov – 6 Dec): no reflections, clients or follow-ups.\n\n"
        "## Plan for next week\n\n"
        "- Plan to be filled in.\n"
    )


def test_a_thin_week_says_little_was_recorded_and_keeps_the_plan() -> None:
    report = empty(
        "en", this=Numbers(WEEK, reflections_done=1, streak=1), plans=(Written(date(2026, 12, 6), "Call Ms Li"),)
    )
    text = as_markdown(draft(report, tip_text="Book the next call before you hang up."))
    lines = [line for line in text.splitlines() if line]
    assert len(lines) <= 9
    assert "Little was recorded this week (30 Nov – 6 Dec): 1 reflection." in lines
    assert "- Call Ms Li" in lines and "- Try next week: Book the next call before you hang up." in lines
    for absent in ("contact", "follow-up", "client", "Stage", "last week"):
        assert absent not in text


def test_a_week_of_only_overdue_follow_ups_or_a_stage_move_says_so() -> None:
    overdue = draft(empty(this=Numbers(WEEK, still_overdue=2), overdue_clients=("王先生",)))
    assert overdue.section("opening").paragraphs == ("本周（11月30日–12月6日）记录的工作不多：2 个逾期未完成的跟进。",)  # type: ignore[union-attr]
    assert overdue.section("short").bullets == ("还有 2 个跟进逾期未完成（客户：王先生）。",)  # type: ignore[union-attr]
    moved = draft(empty("en", this=Numbers(WEEK, stage_moves={"deposit": 1})))
    assert moved.section("opening").paragraphs == ("Little was recorded this week (30 Nov – 6 Dec): 1 stage move.",)  # type: ignore[union-attr]
    assert moved.section("did").bullets == ("Stage moves: 1 to Deposit.",)  # type: ignore[union-attr]


def test_an_empty_week_has_no_numbers_section_in_any_language() -> None:
    for language in ("zh-Hans", "zh-Hant", "en"):
        found = draft(empty(language), tip_text=TIP)
        assert found.section("did") is None and found.section("short") is None
        text = as_markdown(found)
        assert len(text.splitlines()) <= 8
        digits = re.sub(r"\d+月\d+日|\d+ (?:Nov|Dec)|\d+–|\d+\)", "", text)  # the dates of the title
        assert not re.search(r"\d", digits), text


# ---------------------------------------------------------------------------------------------------------------
# Privacy and provenance

PHONES = [
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "+86 139 1234 5678",
    "+8613912345678",
    "021-62345678",
    "0755 8888 1234",
    "１３８１２３４５６７８",
    "1234567",
]


def digits_of(text: str) -> str:
    return "".join(str(int(c)) for c in text if c.isdigit())


@pytest.mark.parametrize("phone", PHONES)
def test_a_phone_number_typed_anywhere_never_reaches_the_draft(phone: str) -> None:
    report = seeded(
        lessons=(Written(date(2026, 12, 4), f"客户电话{phone}，下次先加微信"),),
        to_improve=(Written(date(2026, 12, 4), f"call {phone} back sooner"),),
        plans=(Written(date(2026, 12, 5), f"打{phone}"),),
        booked=(Booked(datetime(2026, 12, 8, 10, 0, tzinfo=SHANGHAI), f"王先生{phone}", f"电话 {phone}"),),
        overdue_clients=(f"李女士 {phone}",),
    )
    found = draft(report, tip_text=f"Save {phone}")
    number = digits_of(phone)
    outputs = [as_markdown(found), docx_text(as_docx(found)), *as_messages(found), *as_messages(found, limit=120)]
    for output in outputs:
        assert phone not in output
        assert number not in digits_of(re.sub(r"[\s\-+.]", "", output))
    assert "客户电话***，下次先加微信" in as_markdown(found)


def test_redact_keeps_ordinary_numbers() -> None:
    assert redact("带看 3 套，总价 350 万，明天 10:30 见") == "带看 3 套，总价 350 万，明天 10:30 见"
    assert redact("王先生 13812345678 和 021 6234 5678") == "王先生 *** 和 ***"


def template_patterns(language: str) -> list[re.Pattern[str]]:
    """Each template of the language as a pattern: its words exactly, any placeholder as any text."""
    patterns = []
    for _, text in strings(template(language).model_dump()):
        pieces = re.split(r"\{[a-z_]+\}", text)
        patterns.append(re.compile(".+".join(re.escape(piece) for piece in pieces), re.DOTALL))
    return patterns


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_every_line_is_a_template_or_the_agents_own_line(language: str) -> None:
    other_agent = "另一位经纪人的复盘：张总的电话别外传"
    report = seeded(language)
    found = draft(report, tip_text=TIP)
    own = {w.text for w in (*report.lessons, *report.went_well, *report.to_improve, *report.plans)}
    patterns = template_patterns(language)
    for line in every_line(found):
        assert line in own or any(p.fullmatch(line) for p in patterns), line
    outputs = [as_markdown(found), docx_text(as_docx(found)), *as_messages(found)]
    assert all(other_agent not in output for output in outputs)


# ---------------------------------------------------------------------------------------------------------------
# Messages


def assert_telegram_html(part: str) -> None:
    """Only <b>…</b>, never nested or left open, and every & an entity."""
    open_tag = False
    for token in re.finditer(r"<[^>]*>?|&[^;\s]*;?", part):
        value = token.group()
        if value.startswith("&"):
            assert value in ("&lt;", "&gt;", "&amp;", "&quot;"), (value, part)
        else:
            assert value == ("</b>" if open_tag else "<b>"), (value, part)
            open_tag = not open_tag
    assert not open_tag, part
    assert ">" not in re.sub(r"</?b>", "", part)


def test_a_long_draft_is_split_between_sections_and_joins_back() -> None:
    long = tuple(
        Written(date(2026, 12, 1 + n), f"第{n}条：" + "先了解客户的预算和通勤，再挑房源。" * 60) for n in range(3)
    )
    found = draft(seeded(lessons=long, went_well=long[:2], to_improve=long), tip_text=TIP)
    whole = as_messages(found, limit=100_000)
    parts = as_messages(found)
    assert len(whole) == 1 and len(parts) > 1
    for part in parts:
        assert 0 < utf16(part) <= 4096
        assert_telegram_html(part)
    assert [line for p in parts for line in p.splitlines() if line] == [line for line in whole[0].splitlines() if line]
    # A section heading never ends a message: the lines under it come with it.
    assert all(not part.endswith("</b>") for part in parts)


def test_a_single_line_longer_than_the_limit_is_cut_outside_entities() -> None:
    line = "<客户&经纪人>" * 700
    found = draft(empty(lessons=(Written(date(2026, 12, 1), line),), this=Numbers(WEEK, reflections_done=1)))
    parts = as_messages(found, limit=500)
    for part in parts:
        assert utf16(part) <= 500
        assert_telegram_html(part)
    escaped = "• " + html.escape(line, quote=False)
    assert escaped in "".join(parts).replace("\n", "")
    # The heading keeps the start of the line that had to be cut: no message is a heading alone.
    assert all(not part.endswith("</b>") for part in parts)


def test_emoji_count_twice_against_the_limit() -> None:
    found = draft(empty(lessons=(Written(date(2026, 12, 1), "🏠" * 300),), this=Numbers(WEEK, reflections_done=1)))
    assert all(utf16(part) <= 256 for part in as_messages(found, limit=256))


written_texts = st.lists(st.text(min_size=0, max_size=400), max_size=4)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lessons=written_texts,
    to_improve=written_texts,
    plans=written_texts,
    note=st.text(max_size=200),
    limit=st.integers(min_value=64, max_value=4096),
)
def test_any_text_gives_valid_telegram_html_within_the_limit(
    lessons: list[str], to_improve: list[str], plans: list[str], note: str, limit: int
) -> None:
    def written(texts: list[str]) -> tuple[Written, ...]:
        return tuple(Written(date(2026, 12, 1), text) for text in texts)

    report = seeded(
        "en",
        lessons=written(lessons),
        to_improve=written(to_improve),
        plans=written(plans),
        booked=(Booked(datetime(2026, 12, 8, 9, 0, tzinfo=SHANGHAI), "王先生", note),),
    )
    found = draft(report, tip_text=note)
    parts = as_messages(found, limit=limit)
    assert parts
    for part in parts:
        assert utf16(part) <= limit and part.strip()
        assert_telegram_html(part)


@settings(max_examples=15, deadline=None)
@given(lessons=written_texts, note=st.text(max_size=200))
def test_any_text_makes_a_docx_that_opens(lessons: list[str], note: str) -> None:
    report = seeded("en", lessons=tuple(Written(date(2026, 12, 1), text) for text in lessons))
    found = draft(report, tip_text=note)
    text = docx_text(as_docx(found))
    assert found.title in text


# ---------------------------------------------------------------------------------------------------------------
# .docx


@pytest.mark.parametrize("language", ["zh-Hans", "en"])
def test_the_docx_opens_with_its_headings_and_bullets(language: str) -> None:
    found = draft(seeded(language), tip_text=TIP)
    document = Document(io.BytesIO(as_docx(found)))
    styled = [(p.style.name if p.style else "", p.text) for p in document.paragraphs]
    headings = {"zh-Hans": ["本周工作", "本周收获", "不足之处", "下周计划"], "en": []}[language] or [
        "What I did this week",
        "What I learned",
        "Where I fell short",
        "Plan for next week",
    ]
    assert styled[0] == ("Heading 1", found.title)
    assert [text for style, text in styled if style == "Heading 2"] == headings
    bullets = [text for style, text in styled if style == "List Bullet"]
    assert len(bullets) == 7 + 3 + 2 + 5 and LESSONS[0].text in bullets
    assert styled[1] == ("Normal", found.section("opening").paragraphs[0])  # type: ignore[union-attr]
    fonts = document.styles["Normal"].element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia"))


# ---------------------------------------------------------------------------------------------------------------
# Templates


def raw(language: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(content_path("summary", f"{language}.yaml").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_every_templates_placeholders_are_known(language: str) -> None:
    for path, text in strings(template(language).model_dump()):
        used = set(re.findall(r"\{([a-z_]+)\}", text))
        assert used <= PLACEHOLDERS.get(path, frozenset()), (path, text)
    # The numbers are never left out of a translation.
    for path in ("did.reflections", "did.contacts", "did.follow_ups", "short.overdue", "facts.contacts"):
        for text in (t for p, t in strings(template(language).model_dump()) if p == path):
            assert "{count}" in text


def test_a_template_with_an_unknown_or_missing_placeholder_is_refused() -> None:
    data = raw("en")
    data["plan"]["tip"] = "Try: {tip} at {phone}"
    with pytest.raises(ValidationError, match="unknown placeholder"):
        load_template("en", data)
    data = raw("en")
    data["did"]["streak"] = ["Streak kept.", "Streak kept."]
    with pytest.raises(ValidationError, match="missing"):
        load_template("en", data)


def test_a_plural_template_needs_one_form_per_plural_category() -> None:
    data = raw("en")
    data["kinds"]["call"] = ["{count} calls"]
    with pytest.raises(ValueError, match="plural form"):
        load_template("en", data)


def test_the_zh_hant_overrides_only_name_existing_words() -> None:
    overrides = raw("zh-Hant")
    known = {path for path, _ in strings(raw("zh-Hans"))}
    assert {path for path, _ in strings(overrides)} <= known
    assert template("zh-Hant").headings.plan == "下週計畫"


def test_a_booked_follow_up_in_another_zone_shows_its_local_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime(2026, 12, 7, 9, 0, tzinfo=berlin) + timedelta(days=2)
    found = draft(empty("en", booked=(Booked(at, "Ms Li", "second viewing"),)))
    assert found.section("plan").bullets == ("Wed 09:00 Ms Li — second viewing",)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------------------------
# Templates read afresh (the words are cached per process: these read the files again, then leave a fresh cache)


@pytest.fixture
def fresh_templates() -> Iterator[None]:
    template.cache_clear()
    yield
    template.cache_clear()


@pytest.mark.usefixtures("fresh_templates")
@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant", "en"])
def test_the_templates_read_afresh_write_the_seeded_week_exactly(language: str) -> None:
    assert as_markdown(draft(seeded(language), tip_text=TIP)) == EXPECTED[language]
    # Every shipped template passes its own checks as it stands.
    assert load_template(language, template(language).model_dump()) == template(language)


@pytest.mark.usefixtures("fresh_templates")
def test_a_language_without_words_is_written_in_simplified_chinese() -> None:
    assert template("fr") == template("zh-Hans")
    assert as_markdown(draft(seeded("fr"), tip_text=TIP)) == EXPECTED["zh-Hans"]


@pytest.mark.usefixtures("fresh_templates")
def test_missing_or_malformed_template_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "summary"
    folder.mkdir()
    (folder / "zh-Hans.yaml").write_text(yaml.safe_dump(raw("zh-Hans"), allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(weekly_summary, "content_path", lambda *parts: tmp_path.joinpath(*parts))
    # No zh-Hant overrides: every word is derived, 计划 becoming OpenCC's 計劃 and then the glossary's Taiwan 計畫.
    assert template("zh-Hant").headings.plan == "下週計畫"
    assert template("zh-Hant").headings.did == "本週工作"
    with pytest.raises(FileNotFoundError, match=r"^content/summary/en\.yaml is missing$"):
        template("en")
    (folder / "en.yaml").write_text("- a list, not a mapping\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^content/summary/en\.yaml is not a mapping$"):
        template("en")
    # Overrides replace single words and leave their siblings derived.
    (folder / "zh-Hant.yaml").write_text("headings:\n  plan: 下週安排\n", encoding="utf-8")
    template.cache_clear()
    assert template("zh-Hant").headings.plan == "下週安排"
    assert template("zh-Hant").headings.short == "不足之處"


PLAN_ALONE = "<b>Plan for next week</b>\n• Plan to be filled in."  # 49 units


@pytest.mark.parametrize(
    ("before", "rest"),
    [
        # The heading and a 75-letter line take 99 of 100 units: with the line break nothing of the long line
        # fits, so it starts the next message; its last 52 units and the plan (2 + 49) would make 103.
        (75, ["<b>What I learned</b>\n• " + "a" * 75, "• " + "x" * 98, "x" * 100, "x" * 52, PLAN_ALONE]),
        # 74 units + a line break: the long line's first 25 units fill this message to exactly 100; its last 27
        # and the plan make 78, one message.
        (
            50,
            [
                "<b>What I learned</b>\n• " + "a" * 50 + "\n• " + "x" * 23,
                "x" * 100,
                "x" * 100,
                "x" * 27 + "\n\n" + PLAN_ALONE,
            ],
        ),
    ],
)
def test_a_cut_line_fills_each_message_to_the_limit(before: int, rest: list[str]) -> None:
    lessons = (Written(date(2026, 12, 1), "a" * before), Written(date(2026, 12, 2), "x" * 250))
    found = draft(empty("en", lessons=lessons, this=Numbers(WEEK, reflections_done=1)))
    parts = as_messages(found, limit=100)
    start = next(n for n, part in enumerate(parts) if part.startswith("<b>What I learned</b>"))
    assert parts[start:] == rest


@pytest.mark.parametrize(
    ("language", "east_asian", "latin"),
    [("zh-Hans", "zh-CN", "zh-CN"), ("zh-Hant", "zh-TW", "zh-TW"), ("en", "zh-CN", "en-GB")],
)
def test_the_docx_names_its_fonts_and_languages(language: str, east_asian: str, latin: str) -> None:
    """Chinese shows in Word and WPS in a named East Asian font (no theme font to override it), and spelling and
    line breaking follow the draft's language."""
    found = draft(seeded(language), tip_text=TIP)
    document = Document(io.BytesIO(as_docx(found)))
    assert document.core_properties.title == found.title
    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        fonts = document.styles[name].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")) == "Microsoft YaHei", name
        assert fonts.get(qn("w:eastAsiaTheme")) is None and fonts.get(qn("w:hint")) is None, name
    normal = document.styles["Normal"]
    assert normal.font.name == "Calibri"
    assert all(document.styles[name].font.name != "Calibri" for name in ("Title", "Heading 1", "Heading 2"))
    lang = normal.element.rPr.find(qn("w:lang"))
    assert (lang.get(qn("w:eastAsia")), lang.get(qn("w:val"))) == (east_asian, latin)


def test_a_phone_number_spaced_or_bracketed_is_redacted_whole() -> None:
    # Gaps wider than one character, or an area code in brackets: no area code or digits left behind.
    assert redact("打 138  1234  5678") == "打 ***"
    assert redact("tel 138 - 1234 - 5678") == "tel ***"
    assert redact("电话(021)6234-5678") == "电话***"


def test_characters_a_document_cannot_hold_are_dropped_from_the_agents_lines() -> None:
    found = draft(empty(lessons=(Written(date(2026, 12, 1), "先听\ufffe客户\uffff说完"),)))
    assert found.section("learned").bullets == ("先听客户说完",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("this", "thin"),
    [
        # Two things done is little; three is a week to list. Each follow-up done counts, as does each
        # reflection, new client, contact and stage move; clients received count once, however many.
        (Numbers(WEEK, reflections_done=2), True),
        (Numbers(WEEK, reflections_done=1, follow_ups_done=2, done_on_time=2), False),
        (Numbers(WEEK, new_clients=1, contacts={"call": 2}), False),
        (Numbers(WEEK, clients_received=8), True),
        (Numbers(WEEK, clients_received=8, reflections_done=1), True),
        (Numbers(WEEK, clients_received=8, reflections_done=2), False),
        (Numbers(WEEK, clients_received=1, stage_moves={"viewing": 2}), False),
        (Numbers(WEEK, stage_moves={"viewing": 1, "deposit": 1}), True),
    ],
)
def test_a_week_of_two_things_or_fewer_is_thin(this: Numbers, thin: bool) -> None:
    (opening,) = draft(empty("en", this=this)).section("opening").paragraphs  # type: ignore[union-attr]
    assert opening.startswith("Little was recorded this week" if thin else "This week (30 Nov – 6 Dec) I recorded")


def test_follow_ups_all_on_time_say_nothing_of_late_ones() -> None:
    this = Numbers(WEEK, follow_ups_done=2, done_on_time=2)
    assert draft(empty("en", this=this)).section("did").bullets == ("Completed 2 follow-ups: 2 on time.",)  # type: ignore[union-attr]


def test_a_line_of_several_lines_stays_one_bullet_in_markdown() -> None:
    found = draft(empty("en", plans=(Written(date(2026, 12, 6), "Call Ms Li\nthen Mr Wang"),)))
    assert "- Call Ms Li\n  then Mr Wang\n" in as_markdown(found)


@pytest.mark.parametrize(
    ("lessons", "rest"),
    [
        # The heading and a 76-letter line make exactly 100 units: one message, the next line starts another.
        (("a" * 76, "b" * 10), ["<b>What I learned</b>\n• " + "a" * 76, "• " + "b" * 10 + "\n\n" + PLAN_ALONE]),
        # A line of exactly 100 units moves whole to the next message: it is not cut.
        (("a" * 10, "c" * 98), ["<b>What I learned</b>\n• " + "a" * 10, "• " + "c" * 98, PLAN_ALONE]),
        # 49 units, a blank line and the plan's 49: the plan's block joins them, exactly 100.
        (("a" * 76, "b" * 47), ["<b>What I learned</b>\n• " + "a" * 76, "• " + "b" * 47 + "\n\n" + PLAN_ALONE]),
    ],
)
def test_a_message_may_be_exactly_the_limit(lessons: tuple[str, str], rest: list[str]) -> None:
    written = tuple(Written(date(2026, 12, 1), text) for text in lessons)
    found = draft(empty("en", lessons=written, this=Numbers(WEEK, reflections_done=1)))
    parts = as_messages(found, limit=100)
    start = next(n for n, part in enumerate(parts) if part.startswith("<b>What I learned</b>"))
    assert parts[start:] == rest


def test_an_opening_longer_than_the_limit_is_cut_and_reads_on_unchanged() -> None:
    found = draft(seeded("en"))
    (opening,) = found.section("opening").paragraphs  # type: ignore[union-attr]
    parts = as_messages(found, limit=64)
    assert parts[0] == "<b>Weekly work summary (30 Nov – 6 Dec)</b>"
    assert "".join(parts[1:]).startswith(opening)
