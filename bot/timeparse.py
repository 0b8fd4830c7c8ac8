"""Reading the follow-up times agents type ("明天下午3点", "周六上午", "tomorrow 3pm", "3天后") as UTC instants.

Text with a CJK ideograph goes to jionlp, everything else to dateparser (shared/notes/time-parsing.md). In
front of them, bot.time_normalise rewrites the phrases they misread into ones they read right: a bare weekday
is the next one to come, parts of the day get their hour (bot.day_parts, per agent), month parts (月底, 下旬)
and yearless dates become dates, zh-Hant is folded to zh-Hans (docs/time-phrases.md: the rules, the 195-phrase
table and its score, the other libraries re-checked). Both libraries work in naive wall-clock time, so we hand
them the agent's local "now" and read their answer as the agent's wall time, which zoneinfo turns into UTC.
Our own rules after the library:
- a phrase naming only a day ("明天", "in 3 days") gets the agent's default hour;
- a duration ("两小时后", "in 2 hours") is added to the instant, not to the wall clock, so it stays right
  across a DST change; we tell one apart by its answer moving with the base clock;
- past results are returned, not refused: the caller tells the agent (`is_past`); a clock time alone that has
  passed today says so (`When.clock_only`) and `same_time_tomorrow` is the offer.
`find_when` finds the phrase anywhere in a note: one regex pass over our vocabulary, then at most a few parses.

Both are imported when an agent is about to type a time (`prefetch` starts a thread; `ready` waits for it off
the event loop), not at start: a bot that only sends nudges never needs them. Of jionlp we import only its
time parser, not the package: `import jionlp` runs an `__init__` that imports all of it (numpy, requests,
the GPL-3.0 tokenizer jiojio, dictionaries) for +42 MiB, where the module we call costs a few MiB and gives
the same answers (`_import_jionlp_time`). They print a banner line on import, which we
swallow. jionlp's time parser is shared module state that gives wrong answers under concurrent use, so every
call holds `_JIONLP_LOCK`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.machinery
import importlib.util
import io
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.day_parts import DEFAULT_DAY_PARTS, DayPart
from bot.time_normalise import Rewrite, chinese_candidates, has_cjk, rewrite
from bot.timezones import to_utc

__all__ = [
    "DEFAULT_DAY_PARTS",
    "DEFAULT_TIME",
    "DayPart",
    "When",
    "find_when",
    "is_past",
    "parse_when",
    "same_time_tomorrow",
]

DEFAULT_TIME = time(10, 0)

# Time phrases are short; longer text only slows the parser down.
_MAX_PHRASE_CHARS = 64
_MAX_MESSAGE_CHARS = 500
# find_when reads at most this many candidate places in Chinese text (each one or two parses of ~0.1 ms): the
# candidates come from one linear regex scan, so a long note costs the same as a short one.
_MAX_CANDIDATES = 8
# In English one-line commands the time phrase is this many words at most ("next friday at 10 am").
_MAX_PHRASE_WORDS = 5
# Words an English time phrase starts with, for finding one in the middle of a note.
_ENGLISH_TIME_START = re.compile(
    r"(?i)^(?:today|tonight|tomorrow|tmr|tmrw|yesterday|next|this|last|the|end|early|mid|late|in|on|at|\d|"
    r"day|morning|afternoon|evening|noon|midday|night|half|quarter|"
    r"mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
)
# An odd shift that no calendar phrase moves by: a result that moves by exactly this much with the base
# clock was computed from the clock, i.e. the phrase is a duration.
_PROBE_SHIFT = timedelta(hours=1, minutes=7)
# Separators agents put between the time and the note: "明天下午3点，带看", "tomorrow 3pm: call".
_SEPARATORS = " \t,.;:!?-–—，。；：！？、"

_JIONLP_LOCK = threading.Lock()
_jionlp: _JionlpTime | None = None
_PREFETCH_LOCK = threading.Lock()
_prefetching: threading.Thread | None = None
_warmed = threading.Event()


@dataclass(frozen=True)
class _JionlpTime:
    """The callable of jionlp we use, without the rest of the package."""

    parse_time: Callable[..., Any]


@dataclass(frozen=True)
class When:
    at: datetime
    """Aware, UTC."""
    had_time: bool
    """True: the phrase fixed the hour (a clock time, a duration). False: a default hour was applied: the
    part of the day's (`day_part`), else the agent's follow-up hour for a day alone."""
    local: datetime
    """The same instant in the agent's zone, for echoing back with the weekday."""
    day_part: DayPart | None = None
    """The part of the day ("上午", "tonight") whose hour was applied, for the echo: "周六 10:00（上午）"."""
    clock_only: bool = False
    """The phrase named a clock time and no day ("下午三点半", "8pm"): it is today's even when that has
    passed; the caller then offers `same_time_tomorrow` instead of only refusing."""


def parse_when(
    text: str,
    now: datetime,
    zone: str,
    default_time: time = DEFAULT_TIME,
    *,
    day_parts: Mapping[DayPart, time] | None = None,
) -> When | None:
    """What an agent typed ("明天下午3点", "周六上午", "tomorrow 3pm", "3天后", "2026-12-05 18:00") as an
    instant, or None.

    The whole text must be a time phrase. `now` is aware; `zone` is the agent's IANA zone; `default_time` is the
    hour for a day alone, `day_parts` the agent's hours for parts of the day (bot.day_parts defaults).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    text = " ".join(text.split()).strip(_SEPARATORS)
    if not text or len(text) > _MAX_PHRASE_CHARS or text.isdigit():
        return None  # "3" or "10" is a count or a price far more often than a date (dateparser: 2027-03-25)
    if len(text) <= 3 and text.isascii() and text.isalpha():
        return None  # "Sun" (孙), "may", "ok", "sat": a name or a word far more often than a day
    tz = ZoneInfo(zone)
    # Whole seconds: jionlp drops microseconds, and durations are measured from this base.
    base = now.astimezone(tz).replace(tzinfo=None, microsecond=0)
    phrase = rewrite(text, base.date(), day_parts)
    when = _when(phrase, phrase.text, now, base, zone, default_time)
    if when is not None and phrase.a_week_later is not None and when.at <= now:
        when = _when(phrase, phrase.a_week_later, now, base, zone, default_time) or when
    return when


def find_when(
    text: str,
    now: datetime,
    zone: str,
    default_time: time = DEFAULT_TIME,
    *,
    day_parts: Mapping[DayPart, time] | None = None,
) -> tuple[When, str] | None:
    """For one-line commands: find the time phrase inside free text and return it with the rest of the text
    (the note), e.g. "明天下午3点 带看新房" -> (When(tomorrow 15:00), "带看新房"); "tomorrow 3pm call about the loan"
    -> (When(...), "call about the loan"). None if no time phrase is found. The first phrase found wins,
    wherever it stands in the text."""
    text = " ".join(text.split())
    if not text or len(text) > _MAX_MESSAGE_CHARS:
        return None
    if has_cjk(text):
        found = _find_chinese(text, now, zone, default_time, day_parts)
        if found is not None:
            return found
    # English, or Chinese notes with an English time ("tomorrow 3pm 带看新房").
    return _find_by_words(text, now, zone, default_time, day_parts)


def is_past(when: When, now: datetime) -> bool:
    """Whether the instant is already due: the caller refuses it and offers a later one."""
    return when.at <= now


def same_time_tomorrow(when: When, zone: str) -> When:
    """The same wall-clock time on the next day in `zone` (23 or 25 hours on: DST counts), for "下午三点半"
    typed at 17:00: the handler offers it with one tap."""
    local = when.at.astimezone(ZoneInfo(zone))
    at = to_utc(local.date() + timedelta(days=1), local.time().replace(tzinfo=None), zone)
    return replace(when, at=at, local=at.astimezone(ZoneInfo(zone)), clock_only=False)


def loaded() -> bool:
    """Whether both parsers are imported (a parse now takes milliseconds)."""
    return _warmed.is_set()


def prefetch() -> None:
    """Start loading the parsers in the background: an agent has opened a flow that asks for a time."""
    global _prefetching
    with _PREFETCH_LOCK:
        if _prefetching is None and not loaded():
            _prefetching = threading.Thread(target=warm_up, name="timeparse-warm-up", daemon=True)
            _prefetching.start()


async def ready() -> None:
    """Wait, off the event loop, until the parsers are loaded; other agents' updates go on meanwhile."""
    if not loaded():
        await asyncio.to_thread(warm_up)


def warm_up() -> None:
    """Import both parsers and run one parse each, so the first agent after a start does not wait."""
    now = datetime.now(UTC)
    parse_when("明天下午3点", now, "Asia/Shanghai")
    parse_when("tomorrow 3pm", now, "Asia/Shanghai")
    find_when("带看 明天下午3点", now, "Asia/Shanghai")
    _warmed.set()


@contextlib.contextmanager
def _locked_jionlp() -> Iterator[_JionlpTime]:
    """jionlp's time parser, imported on first use with the banner swallowed, under the lock."""
    global _jionlp
    with _JIONLP_LOCK:
        if _jionlp is None:
            with contextlib.redirect_stdout(io.StringIO()):
                _jionlp = _import_jionlp_time()
        yield _jionlp


def _import_jionlp_time() -> _JionlpTime:
    """jionlp.gadget.time_parser, without the packages' `__init__`s.

    Those `__init__`s import every tool jionlp has. Empty package modules in their place let Python import just
    the module and what it imports itself (jionlp.rule, jionlp.util: regexes and small helpers).
    Nothing else in the process imports jionlp, so the stand-ins hide nothing; `jionlp.logging` is the one
    package attribute the modules read.
    """
    root = jionlp_folder()
    for name in ("jionlp", "jionlp.gadget"):
        _package_without_init(name, root.joinpath(*name.split(".")[1:]))
    sys.modules["jionlp"].logging = logging  # type: ignore[attr-defined]
    return _JionlpTime(parse_time=importlib.import_module("jionlp.gadget.time_parser").TimeParser())


def jionlp_folder() -> Path:
    """Where jionlp is installed, found without importing it (bot.tip_import reads its dictionaries there)."""
    spec = importlib.util.find_spec("jionlp")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("jionlp is not installed (it is a dependency of agentcoach)")
    return Path(spec.origin).parent


def _package_without_init(name: str, folder: Path) -> None:
    if name not in sys.modules:
        # A spec like the real one's, so `find_spec` (bot.tip_import reads jionlp's dictionaries) still works.
        spec = importlib.machinery.ModuleSpec(name, None, origin=str(folder / "__init__.py"), is_package=True)
        spec.submodule_search_locations = [str(folder)]
        sys.modules[name] = importlib.util.module_from_spec(spec)


def _read(text: str, base: datetime, zone: str) -> tuple[datetime, bool] | None:
    """(naive wall time in the agent's zone, whether the phrase had a time of day), or None."""
    return _read_chinese(text, base) if has_cjk(text) else _read_english(text, base, zone)


def _read_chinese(text: str, base: datetime) -> tuple[datetime, bool] | None:
    with _locked_jionlp() as jio:  # outside the try: a failed import must not read as "no time found"
        try:
            # strict: refuse text with words that are not part of the time ("不是明天" is not tomorrow).
            # A naive base: jionlp ignores tzinfo, and reads a timestamp in the server's zone.
            result = jio.parse_time(text, time_base=base, strict=True)
        except Exception:  # ValueError mostly, TypeError for ''; the messages can embed tracebacks
            return None
    try:
        # Spans (明天到后天), deltas (1小时), periods (每周五) and vague points (下午, 下周) are no instant.
        if result["type"] != "time_point" or result["definition"] != "accurate":
            return None
        start, end = result["time"]
        wall = datetime.fromisoformat(start)
        whole_days = start[11:] == "00:00:00" and end[11:] == "23:59:59"
    except (KeyError, TypeError, ValueError):  # a result shape we do not know is no time either
        return None
    if whole_days and start[:10] != end[:10]:
        return None  # several days (12月, 下个月初)
    return wall, not whole_days


def _read_english(text: str, base: datetime, zone: str, *, again: bool = True) -> tuple[datetime, bool] | None:
    from dateparser.date import DateDataParser

    settings = {
        "RELATIVE_BASE": base,
        "TIMEZONE": zone,  # only for phrases naming a zone ("3pm UTC"): converts them to the agent's
        # Naive wall time: the aware results carry the base's DST offset even for dates after a change.
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DATES_FROM": "future",
        "RETURN_TIME_AS_PERIOD": True,
    }
    try:
        data = DateDataParser(languages=["en"], settings=settings).get_date_data(text)
    except Exception:  # an input dateparser chokes on is just not a time
        return None
    wall = data.date_obj
    # 'part_of_day' ("tonight at 8") comes back as the base time; 'month'/'year' ("may") is no day.
    if not isinstance(wall, datetime) or data.period not in ("day", "time"):
        return None
    if again and data.period == "day" and wall.time() == base.time():
        # dateparser calls "tomorrow 3pm" a 'day' when 3pm is the base clock's time: ask again at another time.
        other = base + _PROBE_SHIFT if base.hour < 12 else base - _PROBE_SHIFT  # the same date either way
        second = _read_english(text, other, zone, again=False)
        if second is not None and second[1]:
            return second
    if wall.tzinfo is not None:
        wall = wall.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return wall, data.period == "time"


def _is_duration(text: str, base: datetime, zone: str, wall: datetime) -> bool:
    """Whether the reading was the base clock plus a duration ("两小时后", "in 2 hours").

    Both parsers add durations to the wall clock, which is an hour off across a DST change; the caller adds
    them to the instant instead.
    """
    probe = _read(text, base + _PROBE_SHIFT, zone)
    return probe is not None and probe[0] - wall == _PROBE_SHIFT


def _when(phrase: Rewrite, text: str, now: datetime, base: datetime, zone: str, default_time: time) -> When | None:
    """The instant the library reads in `text` (the phrase as rewritten), with our rules' findings."""
    reading = _read(text, base, zone)
    if reading is None:
        return None
    wall, had_time = reading
    if not had_time:
        at = to_utc(wall.date(), default_time.replace(tzinfo=None), zone)
    elif _is_duration(text, base, zone, wall):
        at = now.astimezone(UTC) + (wall - base)
    else:
        at = to_utc(wall.date(), wall.time(), zone)
    return When(
        at=at,
        had_time=had_time and phrase.day_part is None,
        local=at.astimezone(ZoneInfo(zone)),
        day_part=phrase.day_part,
        clock_only=phrase.clock_only and had_time,
    )


def _find_chinese(
    text: str, now: datetime, zone: str, default_time: time, day_parts: Mapping[DayPart, time] | None
) -> tuple[When, str] | None:
    """Our candidate places (bot.time_normalise), each read whole, else its leading day; the first that reads
    wins. The scan is one regex pass and at most `_MAX_CANDIDATES` places are read, so time stays bounded."""
    past: tuple[When, str] | None = None
    for count, (start, end, head_end) in enumerate(chinese_candidates(text)):
        if count == _MAX_CANDIDATES:
            break
        for stop in dict.fromkeys((end, head_end)):
            if stop > start and (when := parse_when(text[start:stop], now, zone, default_time, day_parts=day_parts)):
                found = when, _join_note(text[:start], text[stop:])
                if not is_past(when, now):
                    return found
                # "昨天见过，明天下午3点再联系": a day already past is what happened; a later time may be the plan.
                past = past or found
                break
    return past


def _find_by_words(
    text: str, now: datetime, zone: str, default_time: time, day_parts: Mapping[DayPart, time] | None
) -> tuple[When, str] | None:
    """The longest run of leading words that is a time phrase, else the longest run of trailing words."""
    words = text.split(" ")
    # Only runs that start with a word a time phrase starts with: dateparser reads "a tomorrow" as tomorrow and
    # would swallow the note's first word with the hour after it.
    for count in range(min(len(words), _MAX_PHRASE_WORDS), 0, -1) if _ENGLISH_TIME_START.match(words[0]) else ():
        when = _parse_words(words[:count], now, zone, default_time, day_parts)
        if when is not None:
            return when, _join_note("", " ".join(words[count:]))
    for count in range(min(len(words) - 1, _MAX_PHRASE_WORDS), 0, -1):
        if not _ENGLISH_TIME_START.match(words[-count]):
            continue
        when = _parse_words(words[-count:], now, zone, default_time, day_parts)
        if when is not None:
            return when, _join_note(" ".join(words[:-count]), "")
    # In the middle ("Mr Smith tomorrow 3pm call back"): only from a word a time phrase starts with, so a name or
    # a note word is never read as a time, and at most a few places are tried.
    starts = [i for i in range(1, len(words) - 1) if _ENGLISH_TIME_START.match(words[i])][:_MAX_CANDIDATES]
    for start in starts:
        for count in range(min(len(words) - 1 - start, _MAX_PHRASE_WORDS), 0, -1):
            when = _parse_words(words[start : start + count], now, zone, default_time, day_parts)
            if when is not None:
                # dateparser skips filler words ("tomorrow at 3pm about the"): keep the fewest words that still
                # mean the same instant, so the note keeps its own.
                while count > 1 and (
                    (shorter := _parse_words(words[start : start + count - 1], now, zone, default_time, day_parts))
                    is not None
                    and (shorter.at, shorter.had_time) == (when.at, when.had_time)
                ):
                    count -= 1
                return when, _join_note(" ".join(words[:start]), " ".join(words[start + count :]))
    return None


def _parse_words(
    words: list[str], now: datetime, zone: str, default_time: time, day_parts: Mapping[DayPart, time] | None
) -> When | None:
    # A lone short word inside a sentence is a name far more often than a weekday: "Sun" (孙) is a surname.
    word = words[0].strip(_SEPARATORS)
    if len(words) == 1 and len(word) <= 3 and word.isascii() and word.isalpha():
        return None
    return parse_when(" ".join(words), now, zone, default_time, day_parts=day_parts)


def _join_note(before: str, after: str) -> str:
    """What is left once the time phrase is cut out, without the separators that stood next to it."""
    before, after = before.rstrip(_SEPARATORS), after.lstrip(_SEPARATORS)
    if not before or not after:
        return before or after
    glue = "" if has_cjk(before[-1]) and has_cjk(after[0]) else " "
    return before + glue + after
