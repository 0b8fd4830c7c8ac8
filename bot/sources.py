"""The five seed summaries as addressable passages, in Chinese (the repaired text) and English (its translation).

Every tip names where its lesson comes from, and the agent can read that passage. An address is the summary
number plus either a numbered point ("3"; in summary 4, whose points restart under two headings, "I.3" and
"II.3") or a paragraph ("¶5": the fifth block of the summary's body, headings and numbered points included).
Both texts are split into the same blocks, so an address finds the same passage in either language; the tests
check that they line up.

The files stay as repaired, anonymised and translated; what an agent is shown of a passage (`Passage.shown_zh`,
`shown_en`) is cleaned: an anonymised name, number or year ("xx", "20xx", "__年", "当_产生") shows as "[…]", the
translator's notes ("[TN: …]") are left out and words the translator supplied ("[prevent]") lose their brackets.
One point is the writer's own slip: summary 4's point II.4 ("自信心") opens with its own clause and then repeats the
end of point II.3 word for word (the translator's note says so). Its shown text stops where the repeat begins
(`_REPEATS`), so the self-confidence passage is not point 3 again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from bot.numerals import read_chinese_numeral
from content import content_path

SUMMARIES = (1, 2, 3, 4, 5)

_ZH_HEADING = re.compile(r"^房产销售周工作总结篇(\d)\s*$")
_EN_HEADING = re.compile(r"^## Summary (\d)\s*$")
# "1、", "第一、", "第七 " (zh); "1. " (en)
_ZH_POINT = re.compile(r"^(?:(\d+)、|第([一二三四五六七八九十]+)[、\s])")
_EN_POINT = re.compile(r"^(\d+)\.\s")
# Section headings inside summary 4: "一.业务能力" / "**I. Business ability**"
_ZH_SECTION = re.compile(r"^([一二三四五])\.")
_EN_SECTION = re.compile(r"^\*\*([IVX]+)\.")
_ROMAN = {"一": "I", "二": "II", "三": "III", "四": "IV", "五": "V"}

ELIDED = "[…]"
# "xx", "20xx", "XX" (not inside a Latin word), and "_", "__" for an anonymised year or word.
_PLACEHOLDER = re.compile(r"(?<![A-Za-z])(?:20)?[xX]{2}(?![A-Za-z])|_+")
_NOTE = re.compile(r"\s*\[TN:[^\]]*\]")
_SUPPLIED = re.compile(r"\[([^\]…]+)\]")
# Where a passage stops being its own text and repeats another point: its address → (zh, en) of where it starts.
_REPEATS = {"4.II.4": ("把他抓住不放", "hold on to them")}


@dataclass(frozen=True)
class Passage:
    summary: int
    paragraph: int
    """1-based block number within the summary's body."""
    point: str | None
    """"3", "II.3", or None for a paragraph that is not a numbered point."""
    zh: str
    en: str
    shown_zh: str = ""
    """The Chinese as an agent sees it: placeholders as "[…]", a repeated point's copy cut (see the module)."""
    shown_en: str = ""
    """The English as an agent sees it: the same, and no translator's notes."""

    @property
    def address(self) -> str:
        return f"{self.summary}.{self.point}" if self.point else f"{self.summary}.¶{self.paragraph}"


def _zh_blocks() -> dict[int, list[str]]:
    blocks: dict[int, list[str]] = {}
    current = 0
    text = content_path("sources", "summaries.zh.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip():
            continue
        heading = _ZH_HEADING.match(line)
        if heading:
            current = int(heading.group(1))
            blocks[current] = []
        elif current:
            blocks[current].append(line.strip())
    return blocks


def _en_blocks() -> dict[int, list[str]]:
    """Blank-line separated blocks; a numbered list item (with its indented continuation) is one block."""
    blocks: dict[int, list[str]] = {}
    current = 0
    text = content_path("sources", "summaries.en.md").read_text(encoding="utf-8")
    for raw in text.splitlines():
        heading = _EN_HEADING.match(raw)
        if heading:
            current = int(heading.group(1))
            blocks[current] = []
            fresh = True
            continue
        if not current:
            continue
        line = raw.strip()
        if not line:
            fresh = True
            continue
        starts_item = bool(_EN_POINT.match(line)) and not raw.startswith(" ")
        if fresh or starts_item or _EN_SECTION.match(line):
            blocks[current].append(line)
        else:
            blocks[current][-1] += " " + line
        fresh = bool(_EN_SECTION.match(line))
    return blocks


def _zh_point(line: str, section: str | None) -> str | None:
    found = _ZH_POINT.match(line)
    if not found:
        return None
    number = int(found.group(1)) if found.group(1) else read_chinese_numeral(found.group(2))
    if number is None:  # "第七一": no point
        return None
    return f"{section}.{number}" if section else str(number)


@cache
def passages() -> tuple[Passage, ...]:
    """Every block of every summary, in order."""
    zh, en = _zh_blocks(), _en_blocks()
    found: list[Passage] = []
    for summary in SUMMARIES:
        if len(zh[summary]) != len(en[summary]):
            raise ValueError(
                f"summary {summary}: {len(zh[summary])} Chinese blocks but {len(en[summary])} English ones"
            )
        section: str | None = None
        for number, (zh_text, en_text) in enumerate(zip(zh[summary], en[summary], strict=True), start=1):
            heading = _ZH_SECTION.match(zh_text)
            if heading:
                section = _ROMAN[heading.group(1)]
            point = None if heading else _zh_point(zh_text, section)
            address = f"{summary}.{point}" if point else f"{summary}.¶{number}"
            repeat = _REPEATS.get(address, ("", ""))
            shown_zh, shown_en = _shown(zh_text, repeat[0]), _shown(_NOTE.sub("", en_text), repeat[1])
            found.append(Passage(summary, number, point, zh_text, en_text, shown_zh, shown_en))
    return tuple(found)


def _shown(text: str, repeat_starts: str) -> str:
    """A block as an agent reads it: the repeated copy cut, placeholders elided, supplied words unbracketed."""
    if repeat_starts:
        text = text[: text.index(repeat_starts)] + ELIDED
    text = _SUPPLIED.sub(r"\1", text.replace("**", ""))  # the English headings' Markdown bold, too
    return _PLACEHOLDER.sub(ELIDED, text)


def passage(summary: int, *, point: str | None = None, paragraph: int | None = None) -> Passage | None:
    """The passage at an address, or None if there is none."""
    for candidate in passages():
        if candidate.summary != summary:
            continue
        if point is not None and candidate.point == point:
            return candidate
        if paragraph is not None and point is None and candidate.paragraph == paragraph:
            return candidate
    return None


def numbered_points(summary: int) -> list[Passage]:
    return [p for p in passages() if p.summary == summary and p.point]
