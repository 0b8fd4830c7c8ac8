"""`agentcoach content import`: the original, damaged seed reads back as the repaired summaries, every numbering
style splits into addressable blocks, and the command writes a draft a team lead can finish."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from difflib import SequenceMatcher
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.sources import numbered_points, passages
from bot.tip_import import (
    Draft,
    Lexicon,
    Summary,
    clean_line,
    decode,
    default_output,
    draft_yaml,
    import_summaries,
    is_lesson,
    load_lexicon,
    split_summaries,
    suggest_topics,
    suggested_id,
    topic_scorer,
)
from bot.tip_library import damage
from content import content_path
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SEED = "000_9c987b31e6447056.txt"
AGENTCOACH = str(Path(sys.executable).parent / "agentcoach")
PINYIN = re.compile(r"\([a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*\)")
# Typos REPAIRS.md says were left in the source on purpose: the import must keep them too.
SOURCE_TYPOS = ("早售楼大厅的交楼", "更客户", "一分工作", "人竟皆知", "急噪", "想信", "及时杂学家", "一部份")


@cache
def lexicon() -> Lexicon:
    return load_lexicon()


def seed_bytes() -> bytes:
    """The original seed: the copy in tests/data, else the one in shared/seeds (skipped without either, but in CI
    that fails: CI must not pass by skipping the test of the real damage)."""
    for folder in (DATA, ROOT.parent / "shared" / "seeds"):
        if (folder / SEED).is_file():
            return (folder / SEED).read_bytes()
    message = f"the damaged seed {SEED} is in neither tests/data nor shared/seeds"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def seed_draft() -> Draft:
    scores, _ = topic_scorer()
    return import_summaries(seed_bytes(), SEED, topic_scores=scores, lexicon=lexicon())


def blocks_of(summaries: list[Summary] | tuple[Summary, ...]) -> list[tuple[str, str]]:
    return [(block.address, block.text) for summary in summaries for block in summary.blocks]


# ------------------------------------------------------------------------------------------------ the seed


def test_the_seed_yields_candidates_from_all_five_summaries(seed_draft: Draft) -> None:
    assert [summary.number for summary in seed_draft.summaries] == [1, 2, 3, 4, 5]
    assert {candidate.block.summary for candidate in seed_draft.candidates} == {1, 2, 3, 4, 5}
    points = {
        n: [c.block.point for c in seed_draft.candidates if c.block.summary == n and c.block.point] for n in (2, 4, 5)
    }
    assert points[2] == [str(n) for n in range(1, 8)]
    assert points[4] == [f"I.{n}" for n in range(1, 4)] + [f"II.{n}" for n in range(1, 8)]
    assert points[5] == [str(n) for n in range(1, 12)]
    assert [p.point for p in numbered_points(4)] == points[4]
    # The site's intro line goes; the section headings and the sign-off are no candidates.
    assert len(seed_draft.intro) == 1 and seed_draft.intro[0].startswith("工作总结是我们在工作时的")
    skipped = [b.address for s in seed_draft.summaries for b in s.blocks if not is_lesson(b)]
    assert skipped == ["4.¶3", "4.¶7", "5.¶15"]


def test_the_seed_splits_into_the_blocks_of_the_library_sources(seed_draft: Draft) -> None:
    ours = blocks_of(seed_draft.summaries)
    assert [address for address, _ in ours] == [p.address for p in passages()]
    assert {c.block.address for c in seed_draft.candidates} <= {p.address for p in passages()}


def test_every_candidate_is_clean_simplified_text(seed_draft: Draft) -> None:
    t2s = lexicon().t2s
    for candidate in seed_draft.candidates:
        text = candidate.block.text
        assert damage(text) == [], (candidate.id, text)
        assert t2s.convert(text) == text, candidate.id
        assert not PINYIN.search(text) and "</" not in text and "?" not in text, candidate.id


def test_the_seed_reads_back_as_the_repaired_summaries(seed_draft: Draft) -> None:
    repaired = {p.address: p.zh for p in passages()}
    ratios = {
        address: SequenceMatcher(None, text, repaired[address], autojunk=False).ratio()
        for address, text in blocks_of(seed_draft.summaries)
    }
    assert min(ratios.values()) >= 0.97, {a: r for a, r in ratios.items() if r < 0.97}
    inexact = sorted(a for a, r in ratios.items() if r < 1)
    # Today every block comes back exactly; a change in the repairs may cost a character, not whole passages.
    assert len(inexact) <= 3, inexact
    everything = "".join(text for _, text in blocks_of(seed_draft.summaries))
    for typo in SOURCE_TYPOS:
        assert typo in everything, typo
    for particle in ("穿着", "系着", "带着", "忍着", "逼着", "面对着", "厚着", "朝着", "向着"):
        assert particle in everything, particle
    assert "著" not in everything.replace("显著", "")


def test_every_damaged_run_of_the_seed_is_repaired(seed_draft: Draft) -> None:
    # REPAIRS.md: 20 runs, one of them in the intro line, which is dropped.
    assert len(seed_draft.repairs) == 19
    assert [r for r in seed_draft.repairs if r.dropped] == []
    guessed = [r for r in seed_draft.repairs if r.notes]
    assert 0 < len(guessed) <= 12
    by_damage = {r.damaged: r.repaired for r in seed_draft.repairs}
    assert by_damage["?yàn)橐恍﹤€"] == "为一些个"
    assert by_damage["?yōu)檎嬲某山豢蛻?hù)"] == "为真正的成交客户"
    assert by_damage["?jiān)"] == "坚"


def test_candidates_carry_ids_topics_sources_and_review_notes(seed_draft: Draft) -> None:
    ids = [c.id for c in seed_draft.candidates]
    assert len(ids) == len(set(ids)) and all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i) for i in ids)
    assert "s4-ii-3" in ids and "s2-7" in ids and "s1-p3" in ids
    topic_ids = {
        topic["id"] for topic in yaml.safe_load(content_path("tips", "topics.yaml").read_text(encoding="utf-8"))
    }
    with_topics = [c for c in seed_draft.candidates if c.topics]
    assert all(1 <= len(c.topics) <= 3 and set(c.topics) <= topic_ids for c in with_topics)
    assert len(with_topics) >= 0.8 * len(seed_draft.candidates)
    assert all(any("no topic" in note for note in c.review) for c in seed_draft.candidates if not c.topics)
    repeated = next(c for c in seed_draft.candidates if c.id == "s4-ii-4")
    assert any("repeats" in note and "4.II.3" in note for note in repeated.review)
    patched = next(c for c in seed_draft.candidates if c.id == "s4-ii-3")
    assert any("lost byte pair" in note for note in patched.review)


def test_the_draft_file_is_yaml_in_the_shape_of_the_library(seed_draft: Draft) -> None:
    text = draft_yaml(seed_draft)
    assert text.startswith("# DRAFT") and "agentcoach content check" in text
    entries = yaml.safe_load(text)
    assert len(entries) == len(seed_draft.candidates)
    first = next(e for e in entries if e["id"] == "s2-3")
    assert first["source"] == {"file": SEED, "summary": 2, "point": "3"}
    assert first["zh-Hans"]["text"].startswith("3、了解客户需求")
    assert first["zh-Hans"]["try"] == "" and first["en"] == {"title": "", "text": "", "try": ""}
    paragraph = next(e for e in entries if e["id"] == "s1-p3")
    assert paragraph["source"] == {"file": SEED, "summary": 1, "paragraph": 3} and paragraph["review"]


# ------------------------------------------------------------------------------------------------ small samples


def split(text: str) -> list[tuple[str, str]]:
    summaries, _ = split_summaries(text.splitlines())
    return blocks_of(summaries)


def test_numbering_with_chinese_commas_and_ordinals() -> None:
    text = (
        "房产销售周工作总结篇1\n开场白。\n1、第一点。\n2、第二点。\n"
        "房产销售周工作总结篇2\n第一、 热情。\n第七 团结。\n第十一、 目标。\n第二天我去了。\n"
    )
    assert [a for a, _ in split(text)] == ["1.¶1", "1.1", "1.2", "2.1", "2.7", "2.11", "2.¶4"]


def test_numbering_under_chinese_section_headings() -> None:
    text = (
        "## Summary 4\n一.业务能力\n1、了解市场。\n2、维护关系。\n二.个人素质能力\n1、诚实。\n补充一段。\n2、热情。\n"
    )
    assert [a for a, _ in split(text)] == ["4.¶1", "4.I.1", "4.I.2", "4.¶4", "4.II.1", "4.¶6", "4.II.2"]
    summaries, _ = split_summaries(text.splitlines())
    assert [b.heading for b in summaries[0].blocks] == [True, False, False, True, False, False, False]


def test_numbering_under_roman_headings_in_wrapped_markdown() -> None:
    text = (
        "# Weekly summaries\n\nAn intro.\n\n## Summary 4\n\n**I. Business ability**\n\n"
        "1. Know the market. It\n   changes every week.\n2. Keep in touch.\n\n**II. Personal qualities**\n\n"
        "1. Honesty.\n\nA closing paragraph that was\nwrapped by the editor\n"
    )
    assert split(text) == [
        ("4.¶1", "**I. Business ability**"),
        ("4.I.1", "1. Know the market. It changes every week."),
        ("4.I.2", "2. Keep in touch."),
        ("4.¶4", "**II. Personal qualities**"),
        ("4.II.1", "1. Honesty."),
        ("4.¶6", "A closing paragraph that was wrapped by the editor"),
    ]
    assert [a for a, _ in split("## Summary 2\nI. Skills\n1. Listen.\nII. Habits\n1. Plan.\n")] == [
        "2.¶1",
        "2.I.1",
        "2.¶3",
        "2.II.1",
    ]


def test_numbering_with_dots_but_not_decimals() -> None:
    text = "1.保持心态。\n2.了解客户。\n1.5倍的努力才有结果。\n3. 跟进。\n"
    assert [a for a, _ in split(text)] == ["1.1", "1.2", "1.¶3", "1.3"]


def test_the_english_sources_split_like_the_library_sources() -> None:
    english = (ROOT / "content" / "sources" / "summaries.en.md").read_text(encoding="utf-8")
    assert split(english) == [(p.address, p.en) for p in passages()]


def test_a_file_without_a_heading_is_one_summary() -> None:
    data = "保持良好的心态。\n1、了解客户需求。\n2、推荐房源要有把握。\n以上是我本周的工作总结\n".encode()
    draft = import_summaries(data, "week.txt", topic_scores=lambda _: {"needs": 2}, lexicon=lexicon())
    assert draft.intro == () and [s.number for s in draft.summaries] == [1]
    assert [c.id for c in draft.candidates] == ["s1-p1", "s1-1", "s1-2"]
    assert all(c.topics == ("needs",) and c.review == () for c in draft.candidates)


def test_a_gb18030_file_is_read_and_simplified() -> None:
    text = "房產銷售周工作總結篇1\n我們穿著西裝,帶著客戶去看房子,效果很顯著。\n1、保持熱情。\n"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert decode(data) == text
    draft = import_summaries(data, "week.txt", lexicon=lexicon())
    assert [(c.block.address, c.block.text) for c in draft.candidates] == [
        ("1.¶1", "我们穿着西装,带着客户去看房子,效果很显著。"),
        ("1.1", "1、保持热情。"),
    ]


@pytest.mark.parametrize(
    ("damaged", "expected"),
    [
        # Made like the seed's runs from other sentences (Traditional GBK, read one byte late after the first
        # character, the opening garbage character annotated, the last byte lost): the repairs are not the seed's.
        ("客戶因?yàn)槲覀?的服務而滿意", "客户因为我们的服务而满意"),
        ("每週約客?tuì)艨?房,加強購買信心。", "每周约客户看房,加强购买信心。"),
        ("提高?yí)约?的業務水準,讓客戶更加相信自己。", "提高自己的业务水准,让客户更加相信自己。"),
        ("遇到?chéng)栴?先別急著回答,先聽客戶說完。", "遇到问题先别急着回答,先听客户说完。"),
        ("團隊協作?dá)拍?完成銷售目標。", "团队协作才能完成销售目标。"),
    ],
)
def test_runs_damaged_like_the_seed_in_other_text_are_read_back(damaged: str, expected: str) -> None:
    cleaned = clean_line(damaged, lexicon())
    assert cleaned.text == expected
    [repair] = cleaned.repairs
    assert not repair.dropped and repair.notes  # the hidden last byte was chosen by context: worth a look


def test_the_aspect_particle_but_not_the_other_zhu() -> None:
    cleaned = clean_line("他穿著西裝,朝著目標走著,成績顯著,讀了名著。", lexicon())
    assert cleaned.text == "他穿着西装,朝着目标走着,成绩显著,读了名著。"


def test_an_unreadable_run_is_dropped_and_flagged() -> None:
    line = "我们?ぁぃぅ,好的客户会回来。"
    cleaned = clean_line(line, lexicon())
    assert cleaned.text == "我们,好的客户会回来。"
    assert [(r.damaged, r.dropped) for r in cleaned.repairs] == [("?ぁぃぅ", True)]
    draft = import_summaries(line.encode(), "week.txt", topic_scores=lambda _: {}, lexicon=lexicon())
    [candidate] = draft.candidates
    assert damage(candidate.block.text) == []
    assert any("dropped" in note and "?ぁぃぅ" in note for note in candidate.review)
    assert any("no topic" in note for note in candidate.review)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("你好吗?我很好。", "你好吗？我很好。"),
        ("What matters most? Then listen.", "What matters most? Then listen."),
        ("我们仍旧是这一身</p>", "我们仍旧是这一身"),
        ("<p>第一段&amp;第二段</p>", "第一段&第二段"),
        ("工作總結(jié)很重要", "工作总结很重要"),
    ],
)
def test_cleaning_keeps_what_is_not_damage(line: str, expected: str) -> None:
    cleaned = clean_line(line, lexicon())
    assert (cleaned.text, cleaned.repairs) == (expected, ())


def test_topic_suggestions_and_ids() -> None:
    assert suggest_topics({"a": 4, "b": 2, "c": 1, "d": 4, "e": 3}) == ("a", "d", "e")
    assert suggest_topics({"a": 4, "b": 1}) == ("a",)
    assert suggest_topics({}) == ()
    summaries, _ = split_summaries(["## Summary 4", "二.能力", "3、耐心。", "一段话。"])
    assert [suggested_id(b) for b in summaries[0].blocks] == ["s4-p1", "s4-ii-3", "s4-p3"]


# ------------------------------------------------------------------------------------------------ properties

HAN = "我们客户销售房产工作总结經驗為個時間诚信熱情耐心团队學習心态跟进資料"
PLAIN = st.text(alphabet=HAN + "abcxyz0123456789 ,.。、，“”：", max_size=40)


@settings(max_examples=60, deadline=None)
@given(PLAIN)
def test_text_without_damage_only_changes_script(text: str) -> None:
    lex = lexicon()
    cleaned = clean_line(text, lex)
    assert cleaned.text == lex.t2s.convert(text).strip() and cleaned.repairs == ()


POINTS = st.sampled_from(["", "1、", "2、", "第三、", "第七 ", "4.", "一.", "二.", "**I.** ", "II. "])
LINES = st.lists(st.one_of(st.just(""), st.builds(lambda p, t: p + t, POINTS, PLAIN)), max_size=12)


@settings(max_examples=100, deadline=None)
@given(LINES)
@example(["一.七一", "七一.不是标题", "第七一、也不是要点"])  # "七一" is no numeral: found by hypothesis (a KeyError)
def test_splitting_never_loses_a_character(lines: list[str]) -> None:
    summaries, intro = split_summaries(["房产销售周工作总结篇1", *lines])
    ours = "".join(text for _, text in blocks_of(summaries))
    assert re.sub(r"\s", "", ours) == re.sub(r"\s", "", "".join(lines)) and intro == []


# ------------------------------------------------------------------------------------------------ the command


def agentcoach(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_URL"))}
    return subprocess.run(
        [AGENTCOACH, "content", "import", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_import_command_writes_the_draft(tmp_path: Path) -> None:
    (tmp_path / "week.txt").write_bytes(seed_bytes())
    done = agentcoach(tmp_path, "week.txt")
    assert done.returncode == 0, done.stderr
    [summary] = done.stderr.strip().splitlines()
    assert "52 candidate tips" in summary and "summary 4: 18" in summary and "need review" in summary
    draft = default_output(tmp_path / "week.txt")
    assert draft == tmp_path / "week.tips-draft.yaml"
    entries = yaml.safe_load(draft.read_text(encoding="utf-8"))
    assert len(entries) == 52 and entries[0]["source"]["file"] == "week.txt"


def test_the_import_command_does_not_overwrite_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "week.txt").write_text("1、保持热情。\n", encoding="utf-8")
    (tmp_path / "out.yaml").write_text("mine\n", encoding="utf-8")
    refused = agentcoach(tmp_path, "week.txt", "-o", "out.yaml")
    assert refused.returncode == 2 and "out.yaml exists; use --force" in refused.stderr
    assert (tmp_path / "out.yaml").read_text(encoding="utf-8") == "mine\n"
    forced = agentcoach(tmp_path, "week.txt", "-o", "out.yaml", "--force")
    assert forced.returncode == 0, forced.stderr
    assert yaml.safe_load((tmp_path / "out.yaml").read_text(encoding="utf-8"))[0]["id"] == "s1-1"


def test_the_import_command_explains_a_missing_file(tmp_path: Path) -> None:
    missing = agentcoach(tmp_path, "nowhere.txt")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == ["agentcoach: cannot read nowhere.txt: No such file or directory"]
    assert not (tmp_path / "nowhere.tips-draft.yaml").exists()
