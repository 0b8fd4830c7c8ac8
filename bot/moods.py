"""The mood of the day (1–5) as agents answer it: a number ("4", "四", "4分", "4/5"), a word ("还行吧", "不错",
"great") or a face ("😊").

The words and faces are data, `content/moods/words.txt`, with the choices it made written at its top. Before a
look-up the answer loses what does not change its meaning: case, emoji variation selectors and skin tones, and
trailing particles or punctuation ("还行吧！" is "还行"). An answer of several parts ("🙂 4", the bot's own button
label typed out, or "😊😊") is read when every part says the same score; parts that disagree are asked again.
"""

from __future__ import annotations

import re
from functools import cache

from bot.numerals import read_number
from content import content_path

LOWEST, HIGHEST = 1, 5
# Variation selectors, skin tones and the zero-width joiner change how a face looks, not what it says.
_LOOKS = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")
_PARTICLES = "吧啊呀啦哦喔呢嘛~～!！。.…?？,，"
_SCORED = re.compile(r"(?P<number>.+?)\s*(?:分|points?|/\s*5|星)")
# Faces and symbols are their own parts even when typed without spaces ("😊😊").
_SYMBOL = re.compile(r"([\u2600-\u27bf\U0001f000-\U0001faff])")
_MAX_CHARS = 60


def read_mood(text: str) -> int | None:
    """1 (a hard day) … 5 (a great one), or None when the answer says no clear score."""
    if len(text) > _MAX_CHARS:
        return None
    cleaned = " ".join(_LOOKS.sub("", text).lower().split())
    whole = _read_part(cleaned)
    if whole is not None:
        return whole
    parts = _SYMBOL.sub(r" \1 ", cleaned).split()
    scores = {_read_part(part) for part in parts}
    if len(scores) != 1:
        return None
    return scores.pop()


def _read_part(part: str) -> int | None:
    words = mood_words()
    for candidate in (part, part.rstrip(_PARTICLES).strip()):
        if candidate in words:
            return words[candidate]
        scored = _SCORED.fullmatch(candidate)
        number = read_number(scored.group("number") if scored else candidate)
        if number is not None and LOWEST <= number <= HIGHEST:
            return number
    return None


@cache
def mood_words() -> dict[str, int]:
    """content/moods/words.txt as word → score."""
    words: dict[str, int] = {}
    for line in content_path("moods", "words.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        score, _, listed = line.partition(":")
        for word in listed.split(","):
            words[_LOOKS.sub("", word.strip().lower())] = int(score)
    return words
