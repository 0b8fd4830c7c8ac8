"""Draft tips from weekly work summaries: what `agentcoach content import FILE` does.

A team lead collects summaries like the five seeds (plain text, often copied from a web page) and wants candidate
tips to finish and merge into `content/tips/library.yaml`. The flow: read the bytes (UTF-8, else GB18030) → clean
each line (repair the GBK mojibake that damaged the original seed, drop pinyin annotations and HTML leftovers,
convert to Simplified) → split the text into summaries at their headings and each summary into blocks, addressed
the way `bot.sources` addresses the shipped summaries → one candidate per block that may hold a lesson, with
suggested topics and review notes → a YAML draft.

The mojibake (see the seed's REPAIRS.md): the page was GBK, decoded one byte out of step for a stretch, so each
garbage character is the trail byte of one real character plus the lead byte of the next. A lone byte at a run's
end became `?`, often swallowing the `(` of a pinyin annotation. Re-encoding a run and decoding it one byte later
gives the text back; the bytes the damage hid are chosen by the pinyin that survived and by a word-frequency model
(jionlp's dictionaries, loaded only here). Whatever cannot be read back is dropped and noted for review: a draft
may miss a few characters, but it never carries garbage.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Protocol

import yaml

from bot.numerals import read_chinese_numeral
from bot.timeparse import jionlp_folder

# ------------------------------------------------------------------------------------------------ reading


def decode(data: bytes) -> str:
    """The text of a summary file: UTF-8 (with or without BOM) if it is that, else GB18030 (a superset of GBK)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


# ------------------------------------------------------------------------------------------------ the lexicon


class Converter(Protocol):
    def convert(self, text: str) -> str: ...


_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
# The punctuation of Chinese prose; any other symbol, like kana or bopomofo, in a reading means a wrong reading.
_PLAIN_PUNCTUATION = set("，。、；：？！“”‘’（）《》〈〉「」『』【】—…·～%％")
# GBK's user-defined area: a garbage pair with such a lead byte was dropped from the page altogether.
_USER_LEADS = (*range(0xAA, 0xB0), *range(0xF8, 0xFF))
# Below this share of a large corpus a character is too rare to be a repair's result (漳 4.6e-6, 橐 1.6e-8).
_RARE = 2e-7
# How much likelier (log10) a reading with a restored dropped pair must be than one without.
_RESTORE_GAIN = 3.0
_MAX_WORD = 5


def _jionlp_lines(name: str) -> Iterator[str]:
    """Lines of one of jionlp's dictionaries, read without importing jionlp (slow, and it prints a banner).

    jionlp unpacks its zipped dictionaries on first import; read the zip when that has not happened yet.
    """
    folder = jionlp_folder() / "dictionary"
    plain = folder / name
    if plain.exists():
        text = plain.read_text(encoding="utf-8")
    else:
        with zipfile.ZipFile(plain.with_suffix(".zip")) as archive:
            text = archive.read(name).decode("utf-8")
    yield from (line for line in text.split("\n") if line.strip())


@dataclass(frozen=True)
class Lexicon:
    """What the repairs need to know about Chinese: GBK, Traditional → Simplified, pinyin and word frequencies."""

    t2s: Converter
    words: dict[str, float]
    """log10 probability of each word (Simplified), from jionlp's corpus counts."""
    chars: dict[str, float]
    """Share of each character in the corpus."""
    pinyin: dict[str, frozenset[str]]
    gbk: dict[int, str]
    """Every two-byte GBK code (lead << 8 | trail) and its character."""
    simple: dict[str, str] = field(default_factory=dict)
    """Character-level t2s for every GBK character, for fast scoring."""
    floor: float = -12.0

    def simplified(self, text: str) -> str:
        return "".join(self.simple.get(char, char) for char in text)

    def plausible(self, char: str) -> bool:
        """Whether `char` could be real text rather than the leftovers of a repair."""
        if char.isascii():
            return char.isprintable()
        if char in _PLAIN_PUNCTUATION:
            return True
        if not _is_han(char):
            return False
        return self.chars.get(self.simple.get(char, char), 0.0) >= _RARE

    def score(self, text: str) -> float:
        """log10 likelihood of `text` under a unigram word model (best segmentation)."""
        folded = self.simplified(text.translate(_FULL_WIDTH))
        best = [0.0] + [-math.inf] * len(folded)
        for end in range(1, len(folded) + 1):
            for start in range(max(0, end - _MAX_WORD), end):
                word = folded[start:end]
                p = self.words.get(word)
                if p is None:
                    if end - start > 1:
                        continue
                    p = self.floor
                best[end] = max(best[end], best[start] + p)
        return best[-1]

    def by_pinyin(self, syllable: str) -> list[str]:
        wanted = syllable.lower()
        exact = [char for char, readings in self.pinyin.items() if wanted in readings]
        if exact:
            return exact
        bare = _toneless(wanted)
        return [char for char, readings in self.pinyin.items() if bare in {_toneless(r) for r in readings}]


_FULL_WIDTH = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；"})
_TONE_BASE = str.maketrans(
    {
        c: b
        for b, group in {"a": "āáǎà", "e": "ēéěè", "i": "īíǐì", "o": "ōóǒò", "u": "ūúǔù", "v": "ǖǘǚǜü"}.items()
        for c in group
    }
)


def _toneless(syllable: str) -> str:
    return syllable.translate(_TONE_BASE)


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def _gbk_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for lead in range(0x81, 0xFF):
        for trail in range(0x40, 0xFF):
            if trail == 0x7F:
                continue
            try:
                table[lead << 8 | trail] = bytes((lead, trail)).decode("gbk")
            except UnicodeDecodeError:
                continue
    return table


def load_lexicon(t2s: Converter | None = None) -> Lexicon:
    """Build the lexicon (under a second, ~80 MiB with OpenCC): for the import command, never the bot process."""
    if t2s is None:
        import opencc

        t2s = opencc.OpenCC("t2s")
    counts: dict[str, int] = {}
    for line in _jionlp_lines("word_distribution.json"):
        word, count = json.loads(line)
        counts[word] = count
    total = sum(counts.values())
    words = {word: math.log10(count / total) for word, count in counts.items()}
    char_counts: dict[str, int] = {}
    for line in _jionlp_lines("char_distribution.json"):
        char, count = json.loads(line)
        char_counts[char] = count
    char_total = sum(char_counts.values())
    pinyin_pattern = re.compile(rf"\[([a-z{_TONED}]{{1,8}})\]")
    pinyin: dict[str, frozenset[str]] = {}
    for line in _jionlp_lines("chinese_char_dictionary.txt"):
        parts = line.split("\t")
        if len(parts) == 8:
            pinyin[parts[0]] = frozenset(pinyin_pattern.findall(parts[-1]))
    gbk = _gbk_table()
    chars = sorted(set(gbk.values()))
    converted = t2s.convert("\n".join(chars)).split("\n")
    simple = {char: new for char, new in zip(chars, converted, strict=True) if len(new) == 1}
    return Lexicon(
        t2s=t2s,
        words=words,
        chars={char: count / char_total for char, count in char_counts.items()},
        pinyin=pinyin,
        gbk=gbk,
        simple=simple,
        floor=math.log10(1 / total) - 1,
    )


# ------------------------------------------------------------------------------------------------ repairs


@dataclass(frozen=True)
class Repair:
    """One damaged run of a line and what became of it."""

    damaged: str
    repaired: str
    """What replaced the run ("" when it was dropped)."""
    dropped: bool
    notes: tuple[str, ...] = ()


_PINYIN_TAIL = re.compile(rf"[a-z{_TONED}]{{1,7}}\)")
_QUESTION_PARTICLES = set("吗呢么嗎麼吧啊呀")


def _gbk_bytes(char: str) -> bytes | None:
    if char == "€":  # CP936's single byte 0x80, which Python's gbk codec does not map
        return b"\x80"
    try:
        encoded = char.encode("gbk")
    except UnicodeEncodeError:
        return None
    return encoded if len(encoded) == 2 else None


def _is_damage(line: str, at: int) -> bool:
    """Whether the `?` at `at` is damage rather than a question mark."""
    before = line[at - 1] if at else ""
    after = line[at + 1] if at + 1 < len(line) else ""
    if _PINYIN_TAIL.match(line, at + 1):
        return True
    if after == "?":
        return line[at + 2 : at + 3] not in ("", " ", "\t")
    if before in _QUESTION_PARTICLES or not after:
        return False
    return _is_han(after) or (not after.isascii() and after not in _PLAIN_PUNCTUATION)


@dataclass(frozen=True)
class _Run:
    start: int
    end: int
    pinyin: str | None
    """The annotation right after the opening `?` (its `(` swallowed), if any."""
    doubled: bool
    """`??`: the second `?` was a full-width ？ (A3BF) inside the run."""
    garbage: str
    tail_byte: int | None
    """An ASCII character that is the last byte of the run's last character."""
    open_end: bool
    """The run's last character lost its trail byte (a closing `?`, or nothing at all)."""
    end_pinyin: str | None
    prefix_end: int
    """Where the opening `?` and its annotation end (a lost-character reading keeps what follows)."""


def _parse_run(line: str, at: int) -> _Run:
    position = at + 1
    pinyin = None
    found = _PINYIN_TAIL.match(line, position)
    if found:
        pinyin = found.group(0)[:-1]
        position = found.end()
    prefix_end = position
    doubled = pinyin is None and line[position : position + 1] == "?"
    if doubled:
        position += 1
    garbage_start = position
    odd = True  # the first real character's lead byte is hidden in the opening `?`
    while position < len(line) and not line[position].isascii():
        encoded = _gbk_bytes(line[position])
        if encoded is None:
            break
        position += 1
        if len(encoded) == 1:
            odd = not odd
            break
    garbage = line[garbage_start:position]
    tail_byte = None
    open_end = False
    end_pinyin = None
    if odd:
        nxt = line[position : position + 1]
        if nxt == "?":
            open_end = True
            position += 1
            found = _PINYIN_TAIL.match(line, position)
            if found:
                end_pinyin = found.group(0)[:-1]
                position = found.end()
        elif nxt and 0x40 <= ord(nxt) <= 0x7E:
            tail_byte = ord(nxt)
            position += 1
        else:
            open_end = True
    return _Run(at, position, pinyin, doubled, garbage, tail_byte, open_end, end_pinyin, prefix_end)


def _previous_char(done: str) -> str:
    """The real character before a run, skipping the pinyin annotation that may follow it."""
    stripped = re.sub(rf"\([a-z{_TONED}]+\)$", "", done)
    return stripped[-1:] if stripped else ""


@dataclass
class _Slot:
    """One character of a reading: fixed, or a choice among candidates (a byte of it was hidden)."""

    options: list[tuple[int, str]]
    """(code, character) pairs; one when fixed."""


def _slots(lead_options: list[int], body: bytes, trail_options: list[int] | None, lex: Lexicon) -> list[_Slot] | None:
    """The characters of a run's bytes: `?` + body (+ `?`), or None when they do not decode as GBK."""
    slots: list[_Slot] = []
    if not body:
        return None
    first = body[0]
    options = [(lead << 8 | first, lex.gbk[lead << 8 | first]) for lead in lead_options if lead << 8 | first in lex.gbk]
    if not options:
        return None
    slots.append(_Slot(options))
    position = 1
    while position < len(body):
        byte = body[position]
        if byte <= 0x80:  # a single byte where a character should start: the run is not what it seemed
            return None
        if position + 1 == len(body):
            if trail_options is None:
                return None
            last = [(byte << 8 | t, lex.gbk[byte << 8 | t]) for t in trail_options if byte << 8 | t in lex.gbk]
            if not last:
                return None
            slots.append(_Slot(last))
            return slots
        code = byte << 8 | body[position + 1]
        if code not in lex.gbk:
            return None
        slots.append(_Slot([(code, lex.gbk[code])]))
        position += 2
    return slots if trail_options is None else None


def _choose(slots: list[_Slot], left: str, right: str, lex: Lexicon) -> list[tuple[int, str]] | None:
    """Pick each undecided character by how well it reads between its neighbours.

    A first pass reads each with the neighbours known so far; a second one again with all of them chosen.
    """
    chosen: list[tuple[int, str] | None] = [s.options[0] if len(s.options) == 1 else None for s in slots]
    for _ in range(2):
        for index, slot in enumerate(slots):
            if len(slot.options) == 1:
                continue
            before = left + "".join(c[1] for c in chosen[:index] if c is not None)
            after_chars = []
            for later in chosen[index + 1 :]:
                if later is None:
                    break
                after_chars.append(later[1])
            after = "".join(after_chars) + (right if len(after_chars) == len(slots) - index - 1 else "")
            candidates = [option for option in slot.options if lex.plausible(option[1])]
            if not candidates:
                return None
            chosen[index] = max(candidates, key=lambda o: lex.score(before[-6:] + o[1] + after[:6]))
    return [c for c in chosen if c is not None]


def _restore_dropped_pair(
    chars: list[tuple[int, str]], left: str, right: str, lex: Lexicon
) -> tuple[list[tuple[int, str]], str | None]:
    """Put back a garbage pair that fell in GBK's user-defined area, if that makes the text read far better.

    Such a pair (x, y) held the trail byte x of one real character and the lead byte y of the next, so without
    it one character (a, b) was read where two, (a, x) and (y, b), stood.
    """
    text = [c[1] for c in chars]
    best_gain, best = 0.0, None
    for index, (code, _) in enumerate(chars):
        if code < 0x100:
            continue
        # An implausible character (＜ amid prose) is surely such a misreading; a plausible one only if the
        # restored reading is far likelier.
        threshold = 0.0 if not lex.plausible(text[index]) else _RESTORE_GAIN
        lead, trail = code >> 8, code & 0xFF
        before = (left + "".join(text[:index]))[-6:]
        after = ("".join(text[index + 1 :]) + right)[:6]
        base = lex.score(before + text[index] + after)
        for x in _USER_LEADS:
            first = lex.gbk.get(lead << 8 | x)
            if first is None or not lex.plausible(first):
                continue
            for y in range(0xA1, 0xFF):
                second = lex.gbk.get(y << 8 | trail)
                if second is None or not lex.plausible(second):
                    continue
                gain = lex.score(before + first + second + after) - base
                if gain > max(best_gain, threshold):
                    best_gain, best = gain, (index, (lead << 8 | x, first), (y << 8 | trail, second))
    if best is None:
        return chars, None
    index, first_pair, second_pair = best
    restored = [*chars[:index], first_pair, second_pair, *chars[index + 1 :]]
    return restored, f"a lost byte pair restored (「{chars[index][1]}」 read as 「{first_pair[1] + second_pair[1]}」)"


def _shift_reading(run: _Run, previous: str, left: str, right: str, lex: Lexicon) -> tuple[str, list[str]] | None:
    """The run read one byte later (REPAIRS.md's shift-decode), or None if it does not decode to plausible text."""
    body = bytearray()
    if run.doubled:
        body += b"\xa3\xbf"
    for char in run.garbage:
        encoded = _gbk_bytes(char)
        assert encoded is not None
        body += encoded
    if run.tail_byte is not None:
        body.append(run.tail_byte)
    previous_bytes = _gbk_bytes(previous) if previous else None
    if run.pinyin is not None:
        # The opening `?pinyin)` is a garbage character: the previous character's trail byte + the next one's lead.
        leads = sorted(
            {
                code & 0xFF
                for code, char in lex.gbk.items()
                if (previous_bytes is None or code >> 8 == previous_bytes[1])
                and (code & 0xFF) >= 0x81
                and run.pinyin in _readings(char, lex)
            }
        )
    else:
        leads = []
    first_guessed = not leads
    if not leads:
        # No character fits the annotation (it may have been a pair of the user-defined area): context decides.
        leads = list(range(0x81, 0xFF))
    trails: list[int] | None = None
    if run.open_end:
        trails = [t for t in range(0x40, 0xFF) if t != 0x7F]
    slots = _slots(leads, bytes(body), trails, lex)
    if slots is None:
        return None
    last_guessed = run.open_end
    if run.end_pinyin is not None:
        last = slots[-1]
        matching = [o for o in last.options if run.end_pinyin in _readings(o[1], lex)]
        if matching:
            last.options = matching
            last_guessed = False
    chars = _choose(slots, left, right, lex)
    if chars is None:
        return None
    notes: list[str] = []
    if first_guessed and len(slots[0].options) > 1:
        notes.append(f"the first character, 「{chars[0][1]}」, was chosen by context")
    if last_guessed and len(slots[-1].options) > 1:
        notes.append(f"the last character, 「{chars[-1][1]}」, was chosen by context")
    chars, restored = _restore_dropped_pair(chars, left, right, lex)
    if restored:
        notes.append(restored)
    text = "".join(c[1] for c in chars)
    if last_guessed and chars[-1][0] & 0xFF in _USER_LEADS:
        # The hidden trail byte was a user-defined lead, so a pair went missing before the closing `?`: when
        # a quote is left open, that pair carried its closing mark.
        closing = _unclosed(left + text)
        if closing:
            text += closing
            notes.append(f"a closing {closing} was restored")
    if not all(lex.plausible(char) for char in text):
        return None
    return text, notes


_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", "《": "》", "（": "）"}


def _unclosed(text: str) -> str | None:
    for opening, closing in _PAIRS.items():
        if text.count(opening) > text.count(closing):
            return closing
    return None


def _readings(char: str, lex: Lexicon) -> frozenset[str]:
    return lex.pinyin.get(char) or lex.pinyin.get(lex.simple.get(char, char), frozenset())


def _lost_char_reading(run: _Run, line: str, left: str, right: str, lex: Lexicon) -> _Reading | None:
    """`?pinyin)` before intact text: the character itself was lost and only its annotation survived."""
    if run.pinyin is None:
        return None
    candidates = [c for c in lex.by_pinyin(run.pinyin) if lex.plausible(c) and _gbk_bytes(c) is not None]
    if not candidates:
        return None
    kept = _strip_annotations(line[run.prefix_end : run.end]).replace("?", "")
    if not all(lex.plausible(char) for char in kept):
        return None
    after = _strip_annotations(line[run.prefix_end : run.prefix_end + 12])
    best = max(candidates, key=lambda c: lex.score(left[-6:] + c + after[:6]))
    # Compared with a shift reading over the same stretch of the line, what follows is kept as it stands.
    note = f"a lost character ({run.pinyin}) was read as 「{best}」 by context"
    return _Reading(best, run.prefix_end, best + kept, (note,))


@dataclass(frozen=True)
class _Reading:
    text: str
    end: int
    """Where in the line the reading stops."""
    compared: str
    """The reading of the whole run (the part after `end` as it stands), for choosing between readings."""
    notes: tuple[str, ...]


def repair_line(line: str, lex: Lexicon) -> tuple[str, list[Repair]]:
    """`line` with every mojibake run read back or dropped, and what was done (pinyin and HTML still in place)."""
    done = ""
    repairs: list[Repair] = []
    position = 0
    ascii_commas = "," in line and "，" not in line
    while position < len(line):
        char = line[position]
        if char != "?" or not _is_damage(line, position):
            done += char
            position += 1
            continue
        run = _parse_run(line, position)
        left = _strip_annotations(done)
        right = _strip_annotations(line[run.end : run.end + 24])
        readings: list[_Reading] = []
        shifted = _shift_reading(run, _previous_char(done), left, right, lex)
        if shifted is not None:
            text, notes = shifted
            readings.append(_Reading(text, run.end, text, tuple(notes)))
        lost = _lost_char_reading(run, line, left, right, lex)
        if lost is not None:
            readings.append(lost)
        if readings:
            best = max(readings, key=lambda r: lex.score(left[-6:] + r.compared + right[:6]))
            text = best.text.replace("，", ",") if ascii_commas else best.text
            repairs.append(Repair(line[run.start : best.end], text, dropped=False, notes=best.notes))
            done += text
            position = best.end
        elif _question_mark(run, line, lex):
            done += "？"
            position += 1
        else:
            damaged = line[run.start : run.end]
            repairs.append(
                Repair(damaged, "", dropped=True, notes=(f"unreadable damage dropped from the text: 「{damaged}」",))
            )
            position = run.end
    return done, repairs


def _question_mark(run: _Run, line: str, lex: Lexicon) -> bool:
    """A `?` that no reading explains, before plain text: the page's ？ made ASCII like its commas."""
    if run.pinyin is not None or run.doubled:
        return False
    return all(lex.plausible(char) for char in line[run.start + 1 : run.end])


# ------------------------------------------------------------------------------------------------ cleaning

_PINYIN = re.compile(rf"\([a-zü]*[{_TONED}][a-zü]*\)", re.IGNORECASE)
# Tags, and a closing tag whose `<` a run's closing `?` swallowed (`?/p>`).
_HTML = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>|(?<![A-Za-z0-9/])/[a-zA-Z]{1,6}>")
# The aspect particle 着 after a verb; t2s leaves 著 alone because it is also Simplified (显著, 著名).
_ZHE = re.compile(
    r"(?<=[穿系带忍逼对厚朝向看等跟拿抱听想笑说坐站躺望盯握挂戴留守藏随沿顺领背扛抓靠围绕怀揣陪试接记急忙走跑吃喝写读哭玩盼撑扶捧端举推拉拖压])著(?![作名称述])"
)
_LEFTOVERS = re.compile(r"\ufffd|锟斤拷|[\ue000-\uf8ff]")
_ASCII_QUESTION = re.compile(r"(?<=[\u4e00-\u9fff])\?(?=[^\s)）]|$)")


def _strip_annotations(text: str) -> str:
    return _PINYIN.sub("", text)


@dataclass(frozen=True)
class CleanLine:
    text: str
    repairs: tuple[Repair, ...] = ()
    indented: bool = False
    """The raw line was indented (in a wrapped text, a continuation rather than a new point)."""


def clean_line(line: str, lex: Lexicon) -> CleanLine:
    """A line of a summary as a person would have typed it: repaired, without annotations or HTML, Simplified."""
    repaired, found = repair_line(line, lex)
    repairs = list(found)
    text = html.unescape(_HTML.sub("", _strip_annotations(repaired))).replace("\xa0", " ")
    leftovers = _LEFTOVERS.findall(text)
    if leftovers:
        text = _LEFTOVERS.sub("", text)
        note = f"undecodable characters dropped from the text: 「{''.join(leftovers)}」"
        repairs.append(Repair("".join(leftovers), "", dropped=True, notes=(note,)))
    text = _ZHE.sub("着", lex.t2s.convert(text))
    repairs = [replace(r, repaired=lex.t2s.convert(r.repaired)) for r in repairs]
    # A question mark kept after Chinese is written full-width, as Chinese is (an ASCII one reads as damage).
    text = _ASCII_QUESTION.sub("？", text)
    return CleanLine(text.strip(), tuple(repairs), line[:1].isspace())


# ------------------------------------------------------------------------------------------------ summaries

_CHINESE_DIGITS = "一二三四五六七八九十"
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")
# "房产销售周工作总结篇3", "## Summary 3", "## 第3篇"
_SUMMARY_HEADING = re.compile(
    r"^(?:#{1,6}\s*)?(?:[^。,，]{0,30}?篇\s*(\d+)|第\s*(\d+)\s*篇)\s*$|^(?:#{1,6}\s*)?summary\s+(\d+)\s*(?:[:.-].{0,60})?$",
    re.IGNORECASE,
)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S")
# "一.业务能力", "二、个人素质能力", "**I. Business ability**", "II. Personal qualities"
_SECTION = re.compile(r"^(?:\*\*)?([一二三四五六七八九十]{1,2}|[IVX]{1,4})[.．、](?!\d)\s*(.*?)(?:\*\*)?$")
# "1、", "1.", "1．", "第一、", "第七 "; a decimal like "1.5" is no point
_POINT = re.compile(r"^(?:(\d{1,2})(?:、|[.．](?!\d))|第([一二三四五六七八九十]{1,3})(?:[、,，.．:：]|\s))")
# The writer signing off: "以上是我20xx年的工作总结"
_CLOSING = re.compile(
    r"^以上(?:是|就是|为)我.{0,30}总结[。.!！]?$|^(?:this|that|the above) (?:is|was|concludes) my .{0,40}summary"
    r"(?: for [^.]{0,20})?\.?$",
    re.IGNORECASE,
)
_SENTENCE_END = tuple("。！？!?…”」』")
_SECTION_MAX = 24


def _section(text: str) -> str | None:
    """The roman number of a section heading ("一.业务能力" → "I"), or None for any other block."""
    found = _SECTION.match(text)
    if not found or len(found.group(2)) > _SECTION_MAX or "。" in found.group(2):
        return None
    number = found.group(1)
    if number[0] in _CHINESE_DIGITS:
        value = read_chinese_numeral(number)  # "七一" is no number, so no heading
        return _ROMAN[value - 1] if value is not None and 1 <= value <= len(_ROMAN) else None
    return number


def _point(text: str) -> int | None:
    found = _POINT.match(text)
    if not found:
        return None
    return int(found.group(1)) if found.group(1) else read_chinese_numeral(found.group(2))


@dataclass(frozen=True)
class Block:
    """One passage of a summary, addressed like `bot.sources` ("4.II.3", "1.¶2")."""

    summary: int
    paragraph: int
    """1-based, counting every block of the summary's body, headings included."""
    point: str | None
    text: str
    heading: bool
    repairs: tuple[Repair, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.summary}.{self.point}" if self.point else f"{self.summary}.¶{self.paragraph}"


@dataclass(frozen=True)
class Summary:
    number: int
    blocks: tuple[Block, ...]


def _summary_number(text: str) -> int | None:
    found = _SUMMARY_HEADING.match(text)
    if not found:
        return None
    return int(next(group for group in found.groups() if group))


def _join(first: str, second: str) -> str:
    """Two lines of a wrapped paragraph: a space between words, none between Chinese characters."""
    a, b = first[-1:], second[:1]
    word = (a.isascii() and b.isascii()) or (a.isascii() and a.isalnum()) or (b.isascii() and b.isalnum())
    return f"{first} {second}" if word else first + second


def _body_blocks(lines: list[CleanLine | None]) -> list[tuple[str, tuple[Repair, ...]]]:
    """A summary's body as blocks: one per line, or, in a text that separates paragraphs with blank lines and
    wraps them, one per paragraph (a numbered point or heading always starts a new one)."""
    wrapped = any(a is None for a in lines) and any(
        a is not None and b is not None for a, b in itertools.pairwise(lines)
    )
    blocks: list[tuple[str, tuple[Repair, ...]]] = []
    fresh = True
    for line in lines:
        if line is None:
            fresh = True
            continue
        starts = (
            (_point(line.text) is not None and not line.indented)
            or _section(line.text) is not None
            or _MARKDOWN_HEADING.match(line.text) is not None
        )
        # An indented line hangs under the point above it; otherwise a finished sentence ends the paragraph.
        continues = (
            wrapped
            and not fresh
            and not starts
            and blocks
            and (line.indented or not blocks[-1][0].endswith(_SENTENCE_END))
        )
        if continues:
            text, repairs = blocks[-1]
            blocks[-1] = (_join(text, line.text), repairs + line.repairs)
        else:
            blocks.append((line.text, line.repairs))
        fresh = _section(line.text) is not None or _MARKDOWN_HEADING.match(line.text) is not None
    return blocks


def split_summaries(lines: Iterable[CleanLine | str]) -> tuple[list[Summary], list[str]]:
    """Summaries at their headings (a text without any is one summary), and the lines dropped before the first.

    Blocks are addressed like `bot.sources`: a numbered point by its number ("3"; "II.3" under a section
    heading), anything else by its paragraph number.
    """
    bodies: list[tuple[int, list[CleanLine | None]]] = []
    intro: list[str] = []
    cleaned = [
        line if isinstance(line, CleanLine) else CleanLine(line.strip(), (), line[:1].isspace()) for line in lines
    ]
    has_headings = any(_summary_number(line.text) is not None for line in cleaned)
    if not has_headings:
        bodies.append((1, []))
    for line in cleaned:
        number = _summary_number(line.text)
        if number is not None:
            taken = {n for n, _ in bodies}
            bodies.append((number if number not in taken else max(taken) + 1, []))
            continue
        if not bodies:
            if line.text:
                intro.append(line.text)
            continue
        bodies[-1][1].append(line if line.text.strip() else None)
    summaries = []
    for number, body in bodies:
        blocks = []
        section: str | None = None
        for paragraph, (text, repairs) in enumerate(_body_blocks(body), start=1):
            heading_section = _section(text)
            if heading_section is not None:
                section = heading_section
            heading = heading_section is not None or bool(_MARKDOWN_HEADING.match(text))
            point_number = None if heading else _point(text)
            point = None if point_number is None else f"{section}.{point_number}" if section else str(point_number)
            blocks.append(Block(number, paragraph, point, text, heading, repairs))
        if blocks:
            summaries.append(Summary(number, tuple(blocks)))
    return summaries, intro


# ------------------------------------------------------------------------------------------------ candidates

TopicScorer = Callable[[str], dict[str, int]]
MAX_TOPICS = 3
# A block sharing this long a run with an earlier one repeats it (summary 4's point 4 repeats point 3).
_REPEAT = 30


@dataclass(frozen=True)
class Candidate:
    """A block that may hold a lesson, with what the team lead needs to turn it into a tip."""

    id: str
    topics: tuple[str, ...]
    file: str
    block: Block
    review: tuple[str, ...]


@dataclass(frozen=True)
class Draft:
    file: str
    candidates: tuple[Candidate, ...]
    summaries: tuple[Summary, ...]
    intro: tuple[str, ...]
    repairs: tuple[Repair, ...]

    @property
    def needing_review(self) -> int:
        return sum(1 for candidate in self.candidates if candidate.review)

    def summary_line(self, output: str) -> str:
        """What the import command prints: the counts a team lead wants before opening the draft."""
        per_summary = ", ".join(
            f"summary {s.number}: {sum(1 for c in self.candidates if c.block.summary == s.number)}"
            for s in self.summaries
        )
        dropped = sum(1 for r in self.repairs if r.dropped)
        guessed = sum(1 for r in self.repairs if not r.dropped and r.notes)
        return (
            f"wrote {len(self.candidates)} candidate tips to {output} ({per_summary or 'no summaries'}); "
            f"{self.needing_review} need review; damaged runs: {len(self.repairs) - dropped} repaired "
            f"({guessed} partly by context), {dropped} dropped"
        )


def topic_scorer() -> tuple[TopicScorer, str | None]:
    """`library().topic_scores`, or, while library.yaml does not pass its check, the same from topics.yaml alone.

    The second value says why the fallback was needed. Topic scores read only the topics, so they are the same.
    """
    from bot.tip_library import Library, library, parse
    from content import content_path

    try:
        return library().topic_scores, None
    except (ValueError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0]
    topics, _, problems = parse(yaml.safe_load(content_path("tips", "topics.yaml").read_text(encoding="utf-8")), [])
    if problems:
        raise ValueError("content/tips/topics.yaml is invalid (run `agentcoach content check`)")
    return Library(tuple(topics), (), {}).topic_scores, reason


def is_lesson(block: Block) -> bool:
    """False only for blocks that surely hold no lesson: headings and the writer's sign-off."""
    return not block.heading and not _CLOSING.match(block.text) and any(c.isalnum() for c in block.text)


def suggest_topics(scores: dict[str, int]) -> tuple[str, ...]:
    """The best-scoring topics: up to three, none scoring under half the best."""
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    if not ranked:
        return ()
    top = ranked[0][1]
    return tuple(topic for topic, score in ranked[:MAX_TOPICS] if score * 2 >= top)


def suggested_id(block: Block) -> str:
    """s4-ii-3 for point II.3 of summary 4, s1-p3 for its third paragraph."""
    where = block.point.lower().replace(".", "-") if block.point else f"p{block.paragraph}"
    return f"s{block.summary}-{where}"


def _repair_note(repair: Repair) -> str:
    if repair.dropped:
        return "; ".join(repair.notes)
    return f"damaged 「{repair.damaged}」 read as 「{repair.repaired}」: " + "; ".join(repair.notes)


def _review_notes(block: Block, earlier: list[Block], topics: tuple[str, ...]) -> list[str]:
    notes = [_repair_note(repair) for repair in block.repairs if repair.notes]
    if not topics:
        notes.append("no topic matched its words: choose one from content/tips/topics.yaml")
    if block.text.count("“") != block.text.count("”"):
        notes.append("its quotation marks do not pair up: a character may be missing")
    for other in earlier:
        match = SequenceMatcher(None, block.text, other.text, autojunk=False).find_longest_match()
        if match.size >= _REPEAT:
            notes.append(f"repeats {match.size} characters of {other.address}")
            break
    return notes


def candidates(summaries: Iterable[Summary], file: str, topic_scores: TopicScorer | None) -> list[Candidate]:
    found: list[Candidate] = []
    used: set[str] = set()
    for summary in summaries:
        earlier: list[Block] = []
        for block in summary.blocks:
            if not is_lesson(block):
                continue
            topics = suggest_topics(topic_scores(block.text)) if topic_scores else ()
            tip_id = suggested_id(block)
            while tip_id in used:
                tip_id += "-x"
            used.add(tip_id)
            found.append(Candidate(tip_id, topics, file, block, tuple(_review_notes(block, earlier, topics))))
            earlier.append(block)
    return found


def import_summaries(
    data: bytes, file: str, *, topic_scores: TopicScorer | None = None, lexicon: Lexicon | None = None
) -> Draft:
    """Everything `agentcoach content import` does but writing: bytes of a summary file → a draft."""
    lex = lexicon or load_lexicon()
    lines = [clean_line(line, lex) for line in decode(data).splitlines()]
    summaries, intro = split_summaries(lines)
    repairs = tuple(repair for summary in summaries for block in summary.blocks for repair in block.repairs)
    return Draft(file, tuple(candidates(summaries, file, topic_scores)), tuple(summaries), tuple(intro), repairs)


# ------------------------------------------------------------------------------------------------ the draft file

HEADER = """\
# DRAFT candidate tips from {file}, made by `agentcoach content import`. NOT part of the tip library.
# {count} candidates; {review} need review (see their `review` notes). {repairs}
#
# For each candidate worth keeping:
#   1. Read its `review` notes and check the passage (zh-Hans `text`, cleaned from the source) against the source.
#   2. Give it a short id that says what the tip is about (lowercase letters, digits and '-', at most 32).
#   3. Check the suggested `topics` (ids from content/tips/topics.yaml; at least one).
#   4. Write zh-Hans `title` (at most 40 characters), `text` (at most 300) and `try` (one step for today, at
#      most 150) in your own words: the check rejects more than 16 characters copied from the source.
#   5. Write the same in `en` (no Chinese characters in it).
#   6. Delete `file` from `source` and delete `review`. The source must be a passage of content/sources
#      (see bot/sources.py): for a new summary, add its text there first.
#   7. Append it to content/tips/library.yaml.
# Delete the candidates that hold no lesson. After merging, `agentcoach content check` validates the library.

"""


_EMPTY_WORDS = {"title": "", "text": "", "try": ""}


class _Flow(dict[str, Any]):
    """A mapping written on one line, as `library.yaml` writes `source`."""


class _FlowList(list[str]):
    """A list written on one line, as `library.yaml` writes `topics`."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Flow, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True))


def draft_entries(draft: Draft) -> list[dict[str, Any]]:
    """The candidates in the shape of `content/tips/library.yaml`, plus the fields a reviewer removes."""
    entries = []
    for candidate in draft.candidates:
        block = candidate.block
        chinese = any(_is_han(char) for char in block.text)
        source: dict[str, Any] = _Flow(file=candidate.file, summary=block.summary)
        if block.point:
            source["point"] = block.point
        else:
            source["paragraph"] = block.paragraph
        entry: dict[str, Any] = {
            "id": candidate.id,
            "topics": _FlowList(candidate.topics),
            "source": source,
            # The passage goes where its language is; the reviewer rewrites it in their own words.
            "zh-Hans": {"title": "", "text": block.text, "try": ""} if chinese else _Flow(_EMPTY_WORDS),
            "en": _Flow(_EMPTY_WORDS) if chinese else {"title": "", "text": block.text, "try": ""},
        }
        if candidate.review:
            entry["review"] = list(candidate.review)
        entries.append(entry)
    return entries


def draft_yaml(draft: Draft) -> str:
    dropped = sum(1 for r in draft.repairs if r.dropped)
    repairs = (
        f"Damaged text: {len(draft.repairs) - dropped} runs repaired, {dropped} dropped."
        if draft.repairs
        else "No damaged text found."
    )
    if draft.intro:
        repairs += f" Dropped {len(draft.intro)} line(s) before the first heading."
    header = HEADER.format(file=draft.file, count=len(draft.candidates), review=draft.needing_review, repairs=repairs)
    body = yaml.dump(draft_entries(draft), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1_000_000)
    return header + body


def default_output(path: Path) -> Path:
    """Where the draft goes unless told: `<stem>.tips-draft.yaml` beside the summary file."""
    return path.with_name(f"{path.stem}.tips-draft.yaml")
