"""The tip library and `agentcoach content check`: the shipped library passes, and each kind of problem the
check exists for is caught (schema, ids, languages, lengths, topics, sources, copying, damaged text)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.sources import numbered_points, passage, passages
from bot.tip_library import check, check_files, damage, library, read_sources, traditional_in_simplified
from content import content_path

AGENTCOACH = str(Path(sys.executable).parent / "agentcoach")


def shipped() -> tuple[Any, Any]:
    return copy.deepcopy(read_sources())


def test_the_shipped_library_passes_the_check() -> None:
    topics, tips = shipped()
    assert check(topics, tips, traditional_in_simplified=traditional_in_simplified(tips)) == []
    assert len(library().tips) == len(tips) == 100 and len(library().topics) == len(topics) == 14


def test_both_texts_of_the_summaries_line_up_block_for_block() -> None:
    assert [p.point for p in numbered_points(2)] == [str(n) for n in range(1, 8)]
    assert [p.point for p in numbered_points(4)] == [f"I.{n}" for n in range(1, 4)] + [f"II.{n}" for n in range(1, 8)]
    assert [p.point for p in numbered_points(5)] == [str(n) for n in range(1, 12)]
    for found in passages():
        if found.point:
            number = found.point.rsplit(".", 1)[-1]
            assert found.en.startswith(f"{number}. "), found.address
    first = passage(4, point="II.3")
    assert first is not None and first.zh.startswith("3、耐心") and first.en.startswith("3. Patience")
    assert passage(1, paragraph=4) is not None and passage(1, paragraph=4).en.startswith("At my previous job")  # type: ignore[union-attr]
    assert passage(2, point="8") is None and passage(9, paragraph=1) is None


def test_a_shown_passage_has_no_placeholder_or_translators_note() -> None:
    leftovers = re.compile(r"(?<![A-Za-z])(?:20)?xx(?![A-Za-z])|_|\[TN|\[(?!…\])|\*\*", re.IGNORECASE)
    traditional = library().traditional
    for found in passages():
        for shown in (found.shown_zh, found.shown_en, traditional[f"passage.{found.address}"]):
            assert not leftovers.search(shown), (found.address, shown)
    anonymised = passage(3, paragraph=1)
    assert anonymised is not None and anonymised.shown_zh.startswith("[…]年的春节已过")
    assert "month […] my phone" in anonymised.shown_en
    ambition = passage(2, point="1")
    assert ambition is not None and "企图心,当[…]产生的时候" in ambition.shown_zh
    assert "when […] arises" in ambition.shown_en
    supplied = passage(5, point="7")
    assert supplied is not None and "helps prevent clients" in supplied.shown_en


def test_the_self_confidence_point_is_shown_without_the_copy_of_point_3_its_writer_left_in_it() -> None:
    """Summary 4, II.4 really does repeat II.3 (the source, not the split): its shown text is its own clause."""
    patience, confidence = passage(4, point="II.3"), passage(4, point="II.4")
    assert patience is not None and confidence is not None
    repeated = confidence.zh.split("这一点很重要,", 1)[1]
    assert len(repeated) > 60 and repeated in patience.zh  # the copy is in the source, word for word
    assert confidence.shown_zh == "4、自信心——这一点很重要,[…]"
    assert confidence.shown_en == "4. Self-confidence. This is very important; […]"
    assert "自信" in library().traditional["passage.4.II.4"] and "抓住" not in library().traditional["passage.4.II.4"]


def broken(change: str) -> list[str]:
    """The shipped library with one thing broken, as `check` reports it."""
    topics, tips = shipped()
    first, second = tips[0], tips[1]
    if change == "duplicate id":
        second["id"] = first["id"]
    elif change == "missing English":
        del first["en"]
    elif change == "too long":
        first["zh-Hans"]["text"] = "好" * 301
    elif change == "unknown topic":
        first["topics"] = ["weather"]
    elif change == "no such passage":
        first["source"] = {"summary": 2, "point": "9"}
    elif change == "point and paragraph":
        first["source"] = {"summary": 2, "point": "1", "paragraph": 2}
    elif change == "no source":
        del first["source"]
    elif change == "neither passage nor team":
        first["source"] = {"team": False}
    elif change == "passage and team":
        first["source"] = {"summary": 2, "point": "1", "team": True}
    elif change == "team and a paragraph":
        first["source"] = {"paragraph": 2, "team": True}
    elif change == "pinyin":
        first["zh-Hans"]["text"] = "工作总结(jié)要认真写。"
    elif change == "mojibake":
        first["zh-Hans"]["text"] = "因?yàn)橐恍﹤€人原因，我换了工作。"
    elif change == "html":
        first["en"]["text"] = "Keep calm.</p>"
    elif change == "traditional":
        first["zh-Hans"]["text"] = "與客戶溝通要真誠。"
    elif change == "copied":
        source = passage(2, point="2")
        assert source is not None
        first["source"] = {"summary": 2, "point": "2"}
        first["zh-Hans"]["text"] = source.zh[2:40]
    elif change == "bad id":
        first["id"] = "Not A Slug"
    elif change == "empty try":
        first["en"]["try"] = " "
    problems = check(topics, tips, traditional_in_simplified=traditional_in_simplified(tips))
    return problems


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("duplicate id", "the id is used twice"),
        ("missing English", "en: Field required"),
        ("too long", "zh-Hans text has 301 characters (at most 300)"),
        ("unknown topic", "unknown topic 'weather'"),
        ("no such passage", "summary 2 has no passage 2.9"),
        ("point and paragraph", "a source names either a point or a paragraph"),
        ("no source", "source: Field required"),
        ("neither passage nor team", "a source names a passage ({summary, point or paragraph}) or is the team's own"),
        ("passage and team", "a passage of the summaries or the team's own (team: true), not both"),
        ("team and a paragraph", "not both"),
        ("pinyin", "pinyin annotation '(jié)'"),
        ("mojibake", "mojibake"),
        ("html", "HTML '</p>'"),
        ("traditional", "Traditional characters"),
        ("copied", "zh-Hans text copies the source"),
        ("bad id", "id: String should match pattern"),
        ("empty try", "en try is empty"),
    ],
)
def test_the_check_catches(change: str, expected: str) -> None:
    problems = broken(change)
    assert any(expected in problem for problem in problems), problems


def test_damage_finds_what_the_original_seed_suffers_from() -> None:
    assert damage("我們?cè)诠ぷ鲿r(shí)的") != []
    assert damage("客户问：“能便宜点吗？”先别急着答。") == []
    assert damage("Ask: what matters most? Then listen.") == []


def test_content_check_command(tmp_path: Path) -> None:
    ok = subprocess.run([AGENTCOACH, "content", "check"], capture_output=True, text=True, timeout=120)
    assert (ok.returncode, ok.stdout) == (0, "") and "the tip library is fine" in ok.stderr
    _, tips = shipped()
    tips[0]["topics"] = ["weather"]
    bad = tmp_path / "library.yaml"
    bad.write_text(yaml.safe_dump(tips, allow_unicode=True), encoding="utf-8")
    failed = subprocess.run(
        [AGENTCOACH, "content", "check", "--library", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1 and f"tip {tips[0]['id']}: unknown topic 'weather'" in failed.stdout
    assert check_files("- [", content_path("tips", "library.yaml").read_text(encoding="utf-8"))[0].startswith("YAML:")


@pytest.mark.parametrize(
    ("query", "topic"),
    [
        ("跟进", "follow-up"),
        ("跟進", "follow-up"),
        ("FOLLOW-UP", "follow-up"),
        ("心态", "mindset"),
        ("心態", "mindset"),
        ("Mindset", "mindset"),
        ("客户需求", "needs"),
        ("客戶需求", "needs"),
        ("listings & market", "market"),
        ("拓客", "prospecting"),
        ("团队", "teamwork"),
        ("團隊", "teamwork"),
        ("communication", "communication"),
        ("自我管理", "self-management"),
        ("诚信", "trust"),
        ("關係維護", "relationships"),
        ("带看", "showings"),
        ("帶看", "showings"),
        ("showings", "showings"),
        ("议价", "objections"),
        ("議價", "objections"),
        ("砍价", "objections"),
        ("Objections", "objections"),
        ("定金", "deposits"),
        ("訂金", "deposits"),
        ("deposit", "deposits"),
        ("撞单", "compliance"),
        ("合規", "compliance"),
        ("compliance", "compliance"),
    ],
)
def test_topics_are_found_by_name_in_every_language(query: str, topic: str) -> None:
    found = library().find_topic(query)
    assert found is not None and found.id == topic


# Ids other parts of the bot name (the showing review's reaction tips, bot/showings.py): they must stay.
NAMED_ELSEWHERE = (
    "objection-offer-several-options",
    "objection-invite-the-decider",
    "showing-book-the-next-step",
    "showing-a-miss-sharpens-needs",
    "compliance-no-school-promises",
    "showing-same-day-debrief",
    "registration-grade-abc",
    "followup-rhythm-by-grade",
    "followup-read-and-no-reply",
    "deposit-what-follows",
    "objection-wait-and-see",
)


@pytest.mark.parametrize("tip_id", NAMED_ELSEWHERE)
def test_the_tips_other_features_name_exist(tip_id: str) -> None:
    assert library().tip(tip_id) is not None


def test_a_teams_own_tip_passes_the_check_without_a_passage_to_copy_from() -> None:
    """The team's own advice is checked like any tip (languages, lengths, damage) but cites no passage."""
    topics, tips = shipped()
    first = tips[0]
    first["source"] = {"team": True}
    source = passage(2, point="2")
    assert source is not None
    first["zh-Hans"]["text"] = source.zh[2:40]  # no passage, so nothing it could be copied from
    assert check(topics, tips) == []
    first["en"]["try"] = "好" * 3
    assert check(topics, tips) == [f"tip {first['id']}: en text contains Chinese characters"]


def test_every_tip_has_its_traditional_version() -> None:
    lib = library()
    for tip in lib.tips:
        words = lib.words(tip, "zh-Hant")
        assert words.text and words.title and words.try_today
    assert any(lib.words(tip, "zh-Hant").text != tip.zh_hans.text for tip in lib.tips)


# "👉 Try today" (or, after the evening reflection, "Try tomorrow"): the label names the day, so the action names
# none, waits for no later event, and needs nothing a new hire lacks (buyers of their own, past clients).
NOT_DOABLE_TODAY = {
    "zh-Hans": re.compile(r"今天|明天|今晚|下次|下一位|下一次|下周|老客户|老业主|成交客户|成交的客户|你成交的|买过"),
    "en": re.compile(
        r"(?<!/)\btoday\b|\btomorrow\b|\btonight\b|\bnext time\b|\b(?:the|your) next\b|\bpast (?:client|buyer)s?\b"
        r"|\bbought from you\b|\byour (?:most )?recent buyer\b",
        re.IGNORECASE,
    ),
}


def test_every_try_line_can_be_done_on_the_day_it_is_shown() -> None:
    lib = library()
    found = [
        (tip.id, language, match.group(0))
        for tip in lib.tips
        for language, pattern in NOT_DOABLE_TODAY.items()
        if (match := pattern.search(lib.words(tip, language).try_today))
    ]
    assert found == []
    assert NOT_DOABLE_TODAY["en"].search("Check /today, then call a past client tomorrow")
    assert not NOT_DOABLE_TODAY["en"].search("Open /today and give each task a next step")
