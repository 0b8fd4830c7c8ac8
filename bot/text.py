"""What typed text may hold once it is stored or echoed: one rule, applied at the input and again in the database.

An agent's text reaches us from Telegram (typed messages, command arguments, their display name) and from
imports. Some characters in it must never be kept:

- control characters (Unicode category Cc: C0 and C1) except newline and tab; carriage returns become newlines.
  PostgreSQL refuses NUL outright ("invalid byte sequence"), SQLite would keep it, so without this the two
  backends would disagree;
- format characters (category Cf): bidi overrides and isolates (U+202A–U+202E, U+2066–U+2069), bidi marks, zero-width
  spaces, soft hyphens, the byte-order mark… They are invisible, so a name made only of them looks empty and a
  name with an override shows other text than it holds. Two exceptions keep emoji whole: a zero-width joiner
  between two emoji (👨‍👩‍👧) and the tag characters of a subdivision flag (🏴 + tags);
- lone surrogates (category Cs), which no UTF-8 database can store;
- U+2028 / U+2029 (line and paragraph separator) become newlines.

Everything else (CJK, emoji, accents, private-use characters) is kept as it is. `clean` applies the rule;
`CleanString` / `CleanText` (bot/models.py) apply it again to every stored text column, as the last line of defence.
"""

from __future__ import annotations

import unicodedata
from typing import Final

ZWJ: Final = "\u200d"
BLACK_FLAG: Final = "\U0001f3f4"
_TAGS = range(0xE0020, 0xE0080)
_NEWLINES = {"\r\n": "\n", "\r": "\n", "\u2028": "\n", "\u2029": "\n", "\x85": "\n"}
_KEPT_CONTROLS = frozenset("\n\t")
_EMOJI_CATEGORIES = frozenset({"So", "Sk"})
_EMOJI_PARTS = frozenset({"\ufe0f", "\u20e3"})  # variation selector 16, combining keycap


def clean(text: str) -> str:
    """`text` without the characters the rule above removes."""
    if text.isascii() and text.isprintable():
        return text  # the common case, at no cost
    for old, new in _NEWLINES.items():
        text = text.replace(old, new)
    kept: list[str] = []
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cc" and char not in _KEPT_CONTROLS:
            continue
        if category == "Cs":
            continue
        if category == "Cf" and not _joins_emoji(text, index, kept):
            continue
        kept.append(char)
    return "".join(kept)


def _joins_emoji(text: str, index: int, kept: list[str]) -> bool:
    """A ZWJ between two emoji, or a tag character of a flag sequence (🏴 followed by tags)."""
    char = text[index]
    if char == ZWJ:
        before = kept[-1] if kept else ""
        after = text[index + 1] if index + 1 < len(text) else ""
        return _is_emoji_part(before) and _is_emoji_part(after)
    if ord(char) in _TAGS:
        previous = kept[-1] if kept else ""
        return previous == BLACK_FLAG or (previous != "" and ord(previous) in _TAGS)
    return False


def _is_emoji_part(char: str) -> bool:
    return char != "" and (unicodedata.category(char) in _EMOJI_CATEGORIES or char in _EMOJI_PARTS)


def is_blank(text: str | None) -> bool:
    """Nothing an agent could read: empty, whitespace (any script's) or only characters `clean` removes."""
    return text is None or not clean(text).strip()


def clip(text: str, limit: int) -> str:
    """At most `limit` characters: longer text is cut and ends with "…" (for echoes and previews, never storage)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
