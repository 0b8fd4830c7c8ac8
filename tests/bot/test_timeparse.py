"""Reading typed follow-up times: the phrase table, garbage, past times, DST, and finding the time in a note."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import timeparse
from bot.timeparse import (
    DEFAULT_DAY_PARTS,
    DayPart,
    When,
    find_when,
    is_past,
    parse_when,
    same_time_tomorrow,
    warm_up,
)

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
LONDON = "Europe/London"
# Wednesday 2026-11-25 21:00 in Shanghai.
NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
ZONES = [SHANGHAI, NEW_YORK, LONDON, "Australia/Sydney", "America/Los_Angeles", "Asia/Kolkata"]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """The first parse imports jionlp (~0.3 s): keep it out of hypothesis' per-example deadline."""
    warm_up()


Wall = tuple[int, int, int, int, int]


def local(zone: str, wall: Wall) -> datetime:
    year, month, day, hour, minute = wall
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def parsed(text: str, now: datetime = NOW, zone: str = SHANGHAI) -> When:
    when = parse_when(text, now, zone)
    assert when is not None, text
    return when


@pytest.mark.parametrize(
    ("text", "expected", "had_time"),
    [
        ("明天下午3点", (2026, 11, 26, 15, 0), True),
        ("周五上午10点", (2026, 11, 27, 10, 0), True),
        ("下周一早上9点", (2026, 11, 30, 9, 0), True),
        ("11月30日 14:00", (2026, 11, 30, 14, 0), True),
        ("3天后", (2026, 11, 28, 10, 0), False),
        ("两小时后", (2026, 11, 25, 23, 0), True),
        ("半小时后", (2026, 11, 25, 21, 30), True),
        ("今晚10点", (2026, 11, 25, 22, 0), True),
        ("tomorrow 3pm", (2026, 11, 26, 15, 0), True),
        ("in 2 hours", (2026, 11, 25, 23, 0), True),
        ("in 30 minutes", (2026, 11, 25, 21, 30), True),
        ("next friday 10am", (2026, 11, 27, 10, 0), True),
        ("Dec 5 6pm", (2026, 12, 5, 18, 0), True),
        ("friday", (2026, 11, 27, 10, 0), False),
        ("2026-12-05 18:00", (2026, 12, 5, 18, 0), True),
        ("明天", (2026, 11, 26, 10, 0), False),
        ("明天。", (2026, 11, 26, 10, 0), False),
        ("后天上午10点", (2026, 11, 27, 10, 0), True),
        ("12/1 9:30", (2026, 12, 1, 9, 30), True),
        ("大后天", (2026, 11, 28, 10, 0), False),
        ("下个月3号", (2026, 12, 3, 10, 0), False),
        ("  tomorrow   3pm ", (2026, 11, 26, 15, 0), True),
    ],
)
def test_phrase_table(text: str, expected: Wall, had_time: bool) -> None:
    when = parsed(text)
    assert when.local == local(SHANGHAI, expected)
    assert when.at == when.local.astimezone(UTC)
    assert when.at.tzinfo is UTC
    assert when.local.tzinfo == ZoneInfo(SHANGHAI)
    assert when.had_time is had_time
    assert not is_past(when, NOW)


@pytest.mark.parametrize(
    "text",
    [
        "asdfgh", "好的", "谢谢", "三室一厅", "100万", "王先生", "王先生302室", "5楼", "看房",
        "3", "10", "302", "", "   ", "ok", "yes", "may", "Mr Wang", "room 302",
        # Not one instant: a span, a vague part of the day, a whole week or month, a repetition.
        "明天到后天", "下午", "下周", "12月", "每周五下午4点",
        # Extra words make it no time phrase (find_when is for those).
        "不是明天", "明天下午3点带看新房",
    ],
)  # fmt: skip
def test_garbage_is_none(text: str) -> None:
    assert parse_when(text, NOW, SHANGHAI) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("昨天", (2026, 11, 24, 10, 0)),
        ("晚上8点", (2026, 11, 25, 20, 0)),  # at 21:00: today, already past; the caller offers tomorrow
        ("今晚8点", (2026, 11, 25, 20, 0)),
        ("tonight at 8", (2026, 11, 25, 20, 0)),  # was None: dateparser reads only "today 8pm"
        ("今天", (2026, 11, 25, 10, 0)),  # a day only: the default hour, even when it has passed
        ("yesterday 5pm", (2026, 11, 24, 17, 0)),
    ],
)
def test_past_phrases_are_returned_and_flagged(text: str, expected: Wall) -> None:
    when = parsed(text)
    assert when.local == local(SHANGHAI, expected)
    assert is_past(when, NOW)


def test_now_is_already_past() -> None:
    assert is_past(parsed("现在"), NOW)
    assert not is_past(parsed("现在"), NOW - timedelta(seconds=1))


def test_the_default_time_applies_to_a_day_only() -> None:
    assert parse_when("明天", NOW, SHANGHAI, time(9, 15)) == When(
        at=datetime(2026, 11, 26, 1, 15, tzinfo=UTC), had_time=False, local=local(SHANGHAI, (2026, 11, 26, 9, 15))
    )
    assert parsed("明天下午3点").local.hour == 15


def test_naive_now_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        parse_when("明天", datetime(2026, 11, 25, 13, 0), SHANGHAI)


# New York falls back on Sunday 2026-11-01 at 02:00 EDT; London on Sunday 2026-10-25 at 02:00 BST.
NY_SATURDAY = local(NEW_YORK, (2026, 10, 31, 21, 0)).astimezone(UTC)
LONDON_SATURDAY = local(LONDON, (2026, 10, 24, 21, 0)).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "now", "text", "expected", "utc_hour"),
    [
        (NEW_YORK, NY_SATURDAY, "tomorrow 9am", (2026, 11, 1, 9, 0), 14),
        (NEW_YORK, NY_SATURDAY, "明天上午9点", (2026, 11, 1, 9, 0), 14),
        (NEW_YORK, NY_SATURDAY, "明天下午3点", (2026, 11, 1, 15, 0), 20),
        (NEW_YORK, NY_SATURDAY, "tomorrow 3pm", (2026, 11, 1, 15, 0), 20),
        (NEW_YORK, NY_SATURDAY, "下周一早上9点", (2026, 11, 2, 9, 0), 14),
        (NEW_YORK, NY_SATURDAY, "11月30日 14:00", (2026, 11, 30, 14, 0), 19),
        (NEW_YORK, NY_SATURDAY, "3天后", (2026, 11, 3, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "in 3 days", (2026, 11, 3, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "两小时后", (2026, 10, 31, 23, 0), 3),
        (NEW_YORK, NY_SATURDAY, "in 2 hours", (2026, 10, 31, 23, 0), 3),
        (NEW_YORK, NY_SATURDAY, "next friday 10am", (2026, 11, 6, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "2026-12-05 18:00", (2026, 12, 5, 18, 0), 23),
        (NEW_YORK, NY_SATURDAY, "明天", (2026, 11, 1, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "后天上午10点", (2026, 11, 2, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "12/1 9:30", (2026, 12, 1, 9, 30), 14),
        (NEW_YORK, NY_SATURDAY, "大后天", (2026, 11, 3, 10, 0), 15),
        (NEW_YORK, NY_SATURDAY, "下个月3号", (2026, 11, 3, 10, 0), 15),
        (LONDON, LONDON_SATURDAY, "tomorrow 9am", (2026, 10, 25, 9, 0), 9),
        (LONDON, LONDON_SATURDAY, "明天上午9点", (2026, 10, 25, 9, 0), 9),
        (LONDON, LONDON_SATURDAY, "下周一早上9点", (2026, 10, 26, 9, 0), 9),
        (LONDON, LONDON_SATURDAY, "3天后", (2026, 10, 27, 10, 0), 10),
        (LONDON, LONDON_SATURDAY, "两小时后", (2026, 10, 24, 23, 0), 22),
        (LONDON, LONDON_SATURDAY, "in 2 hours", (2026, 10, 24, 23, 0), 22),
        (LONDON, LONDON_SATURDAY, "next friday 10am", (2026, 10, 30, 10, 0), 10),
        (LONDON, LONDON_SATURDAY, "12/1 9:30", (2026, 12, 1, 9, 30), 9),
        # Spring forward: New York on 2027-03-14, London on 2027-03-28.
        (NEW_YORK, local(NEW_YORK, (2027, 3, 13, 21, 0)).astimezone(UTC), "tomorrow 9am", (2027, 3, 14, 9, 0), 13),
        (LONDON, local(LONDON, (2027, 3, 27, 21, 0)).astimezone(UTC), "明天上午9点", (2027, 3, 28, 9, 0), 8),
    ],
)
def test_wall_clock_times_across_dst(zone: str, now: datetime, text: str, expected: Wall, utc_hour: int) -> None:
    when = parsed(text, now, zone)
    assert when.local == local(zone, expected)
    assert when.at == local(zone, expected).astimezone(UTC)
    assert when.at.hour == utc_hour


@pytest.mark.parametrize("text", ["in 2 hours", "两小时后", "2小时后", "in 120 minutes"])
@pytest.mark.parametrize(
    ("zone", "local_now"),
    [
        (NEW_YORK, (2026, 11, 1, 0, 30)),  # 00:30 EDT; two hours later is 01:30 EST, not 02:30
        (LONDON, (2026, 10, 25, 0, 30)),
        (NEW_YORK, (2027, 3, 14, 1, 30)),  # 01:30 EST; two hours later is 04:30 EDT
    ],
)
def test_durations_count_real_hours_across_dst(text: str, zone: str, local_now: Wall) -> None:
    now = local(zone, local_now).astimezone(UTC)
    assert parsed(text, now, zone).at == now + timedelta(hours=2)


@pytest.mark.parametrize(
    ("text", "expected", "note"),
    [
        ("明天下午3点 带看新房", (2026, 11, 26, 15, 0), "带看新房"),
        ("周五上午10点 回访", (2026, 11, 27, 10, 0), "回访"),
        ("下周一早上9点给王先生打电话", (2026, 11, 30, 9, 0), "给王先生打电话"),
        ("明天下午3点，带看新房", (2026, 11, 26, 15, 0), "带看新房"),
        ("提醒我明天下午3点带看新房", (2026, 11, 26, 15, 0), "提醒我带看新房"),
        ("回访王先生 后天上午10点", (2026, 11, 27, 10, 0), "回访王先生"),
        ("11月30日 14:00 签约", (2026, 11, 30, 14, 0), "签约"),
        ("12/1 9:30 看房", (2026, 12, 1, 9, 30), "看房"),
        ("3天后 回访", (2026, 11, 28, 10, 0), "回访"),
        ("tomorrow 3pm 带看新房", (2026, 11, 26, 15, 0), "带看新房"),
        ("tomorrow 3pm call about the loan", (2026, 11, 26, 15, 0), "call about the loan"),
        ("next friday 10am viewing at Park Lane", (2026, 11, 27, 10, 0), "viewing at Park Lane"),
        ("next friday at 10am: viewing at Park Lane", (2026, 11, 27, 10, 0), "viewing at Park Lane"),
        ("in 2 hours call back Mr Wang.", (2026, 11, 25, 23, 0), "call back Mr Wang."),
        ("call about the loan tomorrow 3pm", (2026, 11, 26, 15, 0), "call about the loan"),
        ("tomorrow call Mrs Lee", (2026, 11, 26, 10, 0), "call Mrs Lee"),
        ("明天下午3点", (2026, 11, 26, 15, 0), ""),
    ],
)
def test_find_when_splits_time_and_note(text: str, expected: Wall, note: str) -> None:
    found = find_when(text, NOW, SHANGHAI)
    assert found is not None, text
    when, rest = found
    assert when.local == local(SHANGHAI, expected)
    assert rest == note


@pytest.mark.parametrize(
    "text",
    ["带看新房", "给王先生打电话", "100万 预算", "3 bedrooms at Park Lane", "Sun Hung Kai viewing", "call Mr Wang", ""],
)
def test_find_when_without_a_time_is_none(text: str) -> None:
    assert find_when(text, NOW, SHANGHAI) is None


def test_find_when_in_another_zone() -> None:
    found = find_when("tomorrow 9am call the bank", NY_SATURDAY, NEW_YORK)
    assert found is not None
    assert (found[0].at, found[1]) == (datetime(2026, 11, 1, 14, 0, tzinfo=UTC), "call the bank")


PHRASES = [
    "明天下午3点",
    "周五上午10点",
    "下周一早上9点",
    "3天后",
    "两小时后",
    "明天",
    "12/1 9:30",
    "tomorrow 3pm",
    "in 2 hours",
    "next friday 10am",
    "friday",
    "2026-12-05 18:00",
]
NOTES = ["带看新房", "回访王先生", "call about the loan", "viewing at Park Lane"]
instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))


def assert_sane(when: When, zone: str) -> None:
    """What every answer promises: one UTC instant, echoed in the agent's own zone; a day alone gets the
    default hour."""
    assert when.at.tzinfo is UTC
    assert when.local.tzinfo == ZoneInfo(zone) and when.local == when.at
    if when.day_part is not None:
        assert when.local.time() == DEFAULT_DAY_PARTS[when.day_part] and not when.had_time
    elif not when.had_time:
        assert when.local.time() == timeparse.DEFAULT_TIME
    if when.clock_only:  # today's, past or not
        assert when.had_time


@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=40), now=instants, zone=st.sampled_from(ZONES))
def test_parse_when_never_raises(text: str, now: datetime, zone: str) -> None:
    when = parse_when(text, now, zone)
    if when is not None:
        assert_sane(when, zone)


@settings(max_examples=50, deadline=None)
@given(
    phrase=st.sampled_from(PHRASES),
    before=st.text(alphabet=" \t,.，。、", max_size=3),
    after=st.text(alphabet=" \t,.!?，。！？", max_size=3),
    now=instants,
    zone=st.sampled_from(ZONES),
)
def test_spaces_and_punctuation_around_a_phrase_change_nothing(
    phrase: str, before: str, after: str, now: datetime, zone: str
) -> None:
    when = parse_when(phrase, now, zone)
    assert when is not None, phrase
    assert_sane(when, zone)
    assert parse_when(before + phrase + after, now, zone) == when


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="明天后下周一二三五上午晚点半小时号月日 0123456789:/-年天前今早3pm", max_size=20))
def test_parse_when_never_raises_on_near_misses(text: str) -> None:
    when = parse_when(text, NOW, SHANGHAI)
    if when is not None:
        assert_sane(when, SHANGHAI)


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=80) | st.text(min_size=400, max_size=600))
def test_find_when_never_raises(text: str) -> None:
    found = find_when(text, NOW, SHANGHAI)
    if found is not None:
        when, note = found
        assert_sane(when, SHANGHAI)
        assert all(word in text for word in note.split())  # the note is what the agent wrote, minus the time


@settings(max_examples=40, deadline=None)
@given(phrase=st.sampled_from(PHRASES), note=st.sampled_from(NOTES), now=instants, zone=st.sampled_from(ZONES))
def test_find_when_finds_the_phrase_before_a_note(phrase: str, note: str, now: datetime, zone: str) -> None:
    found = find_when(f"{phrase} {note}", now, zone)
    assert found is not None
    assert found == (parse_when(phrase, now, zone), note)


@settings(max_examples=50, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES), hours=st.integers(1, 48), chinese=st.booleans())
def test_in_n_hours_is_now_plus_n_hours(now: datetime, zone: str, hours: int, chinese: bool) -> None:
    text = f"{hours}小时后" if chinese else f"in {hours} hour{'s' if hours > 1 else ''}"
    when = parsed(text, now, zone)
    assert when.at == now + timedelta(hours=hours)
    assert when.had_time


@settings(max_examples=50, deadline=None)
@given(
    now=instants,
    zone=st.sampled_from(ZONES),
    days=st.integers(1, 60),
    chinese=st.booleans(),
    default=st.times(min_value=time(6, 0), max_value=time(22, 0)),  # never inside a DST gap
)
def test_in_n_days_keeps_the_wall_clock_time(now: datetime, zone: str, days: int, chinese: bool, default: time) -> None:
    text = f"{days}天后" if chinese else f"in {days} day{'s' if days > 1 else ''}"
    when = parse_when(text, now, zone, default)
    assert when is not None
    assert when.local.date() == now.astimezone(ZoneInfo(zone)).date() + timedelta(days=days)
    assert when.local.time() == default
    assert not when.had_time


def test_parallel_calls_agree_with_serial_ones() -> None:
    """jionlp's parser is shared state: without the lock, threads get each other's answers."""
    bases = [NOW, NOW + timedelta(days=3, hours=5)]
    phrases = ["明天下午3点", "两小时后", "3天后", "周五上午10点", "下个月3号", "tomorrow 3pm"]
    expected = {(phrase, base): parse_when(phrase, base, SHANGHAI) for phrase in phrases for base in bases}
    wrong: list[tuple[str, datetime]] = []

    def work(offset: int) -> None:
        for i in range(60):
            phrase, base = phrases[(i + offset) % len(phrases)], bases[(i // 2 + offset) % 2]
            if parse_when(phrase, base, SHANGHAI) != expected[(phrase, base)]:
                wrong.append((phrase, base))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_broken_jionlp_install_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "no time found" for every Chinese phrase: e.g. a read-only site-packages on the first import."""

    def unpack_fails(name: str) -> None:
        raise PermissionError(name)

    monkeypatch.setattr(timeparse, "_jionlp", None)
    monkeypatch.setattr(importlib, "import_module", unpack_fails)
    with pytest.raises(PermissionError):
        parse_when("明天", NOW, SHANGHAI)
    with pytest.raises(PermissionError):
        find_when("看房 明天", NOW, SHANGHAI)


def test_warm_up_prints_nothing() -> None:
    """jionlp and jiojio print a banner on import; the bot's stdout must stay clean."""
    code = "from bot.timeparse import warm_up; warm_up()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == ""


def test_serving_loads_the_parsers_only_when_an_agent_needs_them() -> None:
    """The bot as `agentcoach run` builds it holds no time parser until a flow asks for a time."""
    code = """
import asyncio, sys
from bot import timeparse
from runtime import app
assert not timeparse.loaded() and "jionlp" not in sys.modules and "dateparser" not in sys.modules
timeparse.prefetch()
timeparse.prefetch()  # a second flow opened meanwhile starts no second load
asyncio.run(timeparse.ready())
assert timeparse.loaded() and "jionlp" in sys.modules and "dateparser" in sys.modules
# Only jionlp's time modules: not its tokenizer (GPL-3.0), numpy or requests (+38 MiB between them).
print(sorted({"jiojio", "numpy", "requests", "jionlp.gadget.location_parser"} & set(sys.modules)))
when = timeparse.parse_when("明天下午3点", timeparse.datetime(2026, 11, 25, tzinfo=timeparse.UTC), "Asia/Shanghai")
print(when.at.astimezone(timeparse.UTC).isoformat(), when.had_time)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == ["[]", "2026-11-26T07:00:00+00:00 True"]


def test_jionlp_time_modules_alone_answer_as_the_whole_package() -> None:
    """We import jionlp's time parser module without its package `__init__`; a jionlp release whose time parser
    came to rely on what that `__init__` sets up would show here as a different answer."""
    phrases = ["明天下午3点", "周五上午10点", "下周一早上9点", "11月30日 14:00", "3天后", "两小时后", "后天晚上",
               "下个月5号", "大年初一", "12月", "不是明天", "明天到后天", "每周五",
               "2026年12月12日10点0分"]  # fmt: skip
    code = """
import contextlib, io, json, sys
from datetime import datetime
phrases = json.loads(sys.argv[1])
if sys.argv[2] == "package":
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp
    parse_time = jionlp.parse_time
else:
    from bot import timeparse
    with timeparse._locked_jionlp() as jio:
        parse_time = jio.parse_time
def answer(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except Exception as error:
        return type(error).__name__
base = datetime(2026, 11, 25, 21, 0)
print(json.dumps([answer(parse_time, p, time_base=base, strict=True) for p in phrases], ensure_ascii=False))
"""

    def answers(how: str) -> object:
        args = [sys.executable, "-c", code, json.dumps(phrases), how]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
        return json.loads(result.stdout)

    alone = answers("modules")
    assert alone == answers("package")
    assert isinstance(alone, list) and alone[0]["time"][0] == "2026-11-26 15:00:00"


# A note long enough to pass the old 40-character scan limit, with nothing time-like in it.
LONG_NOTE = "客户很在意学区和地铁，预算有限，想要两居，最好朝南，老人也住，需要电梯，离公司近一些的小区"


@pytest.mark.parametrize("separator", ["", " "])
@pytest.mark.parametrize("cut", [0, 10, *range(34, 41), len(LONG_NOTE)])
def test_a_phrase_after_a_long_note_means_the_same(cut: int, separator: str) -> None:
    """Was: after 35–38 characters of note, 明天下午3点 read as 明天 10:00 with "下午3点" left in the note, or
    not at all (the scan stopped at 40 characters)."""
    found = find_when(f"{LONG_NOTE[:cut]}{separator}明天下午3点", NOW, SHANGHAI)
    assert found is not None
    assert found[0].local == local(SHANGHAI, (2026, 11, 26, 15, 0))
    assert found[1] == LONG_NOTE[:cut].rstrip("，")


@settings(max_examples=40, deadline=None)
@given(
    phrase=st.sampled_from(PHRASES),
    note=st.text(
        alphabet="客户很在意学区和地铁预算有限想要居最好朝南老人也住需电梯离公司近些的小区，。 ab", max_size=300
    ),
    now=instants,
    zone=st.sampled_from(ZONES),
)
def test_where_the_phrase_stands_changes_nothing(phrase: str, note: str, now: datetime, zone: str) -> None:
    note = " ".join(note.split())
    found = find_when(f"{note} {phrase}", now, zone)
    assert found is not None
    assert found[0] == parse_when(phrase, now, zone)


def test_finding_a_time_in_long_text_stays_fast() -> None:
    """One regex pass and at most a few parses: 500 random time-like characters, the worst case for jionlp's
    own extractor (~1 s on 40 characters), take a few milliseconds (docs/time-phrases.md has the figure)."""
    import random
    import time as clock

    alphabet = "明天后下周一二三四五六日上午晚点半小时号月底初中旬今早 0123456789:/-年天前个末刻钟分"
    rng = random.Random(7)
    worst = 0.0
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(500))
        runs = []
        for _ in range(3):  # the least of three: other processes share the two cores
            start = clock.perf_counter()
            find_when(text, NOW, SHANGHAI)
            runs.append(clock.perf_counter() - start)
        worst = max(worst, min(runs))
    assert worst < 0.05


@pytest.mark.parametrize(
    ("zone", "local_now", "text", "tomorrow", "hours_later"),
    [
        (SHANGHAI, (2026, 11, 25, 17, 0), "下午三点半", (2026, 11, 26, 15, 30), 24),
        (SHANGHAI, (2026, 11, 25, 21, 0), "晚上8点", (2026, 11, 26, 20, 0), 24),
        (SHANGHAI, (2026, 11, 25, 21, 0), "8pm", (2026, 11, 26, 20, 0), 24),
        ("Europe/Berlin", (2027, 3, 27, 21, 0), "晚上8点", (2027, 3, 28, 20, 0), 23),  # spring forward
        ("Europe/Berlin", (2026, 10, 24, 21, 0), "8pm", (2026, 10, 25, 20, 0), 25),  # fall back
    ],
)
def test_a_past_clock_time_is_flagged_and_tomorrow_offered(
    zone: str, local_now: Wall, text: str, tomorrow: Wall, hours_later: int
) -> None:
    now = local(zone, local_now).astimezone(UTC)
    when = parsed(text, now, zone)
    assert is_past(when, now) and when.clock_only
    assert when.local.date() == local(zone, local_now).date()
    later = same_time_tomorrow(when, zone)
    assert later.local == local(zone, tomorrow)
    assert later.at - when.at == timedelta(hours=hours_later)
    assert not is_past(later, now) and not later.clock_only


def test_a_day_and_a_clock_time_is_not_clock_only() -> None:
    assert not parsed("今天晚上8点").clock_only
    assert not parsed("明天下午3点").clock_only
    assert parsed("下午3点", NOW - timedelta(hours=10)).clock_only  # 11:00: ahead, still only a clock time


def test_the_agents_own_day_part_hours() -> None:
    mine = {DayPart.NIGHT: time(19, 30), DayPart.MORNING: time(9, 0)}
    assert parse_when("明天晚上", NOW, SHANGHAI, day_parts=mine) == When(
        at=local(SHANGHAI, (2026, 11, 26, 19, 30)).astimezone(UTC),
        had_time=False,
        local=local(SHANGHAI, (2026, 11, 26, 19, 30)),
        day_part=DayPart.NIGHT,
    )
    assert parsed("tomorrow morning").local.hour == 10
    when = parse_when("tomorrow morning", NOW, SHANGHAI, day_parts=mine)
    assert when is not None and when.local.time() == time(9, 0)
    when = parse_when("周六下午", NOW, SHANGHAI, day_parts=mine)  # not in the mapping: the bot's default
    assert when is not None and (when.local.time(), when.day_part) == (time(15, 0), DayPart.AFTERNOON)
    found = find_when("带看 明晚", NOW, SHANGHAI, day_parts=mine)
    assert found is not None and found[0].local.time() == time(19, 30)


TIME_LIKE = "明天后今晚早下周星期礼拜禮週一二三四五六日天上午中傍晚点點半小时钟刻号月底初旬末年个 0123456789:/-amp"


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=TIME_LIKE, max_size=16), now=instants, zone=st.sampled_from(ZONES))
def test_a_parsed_time_is_never_past_without_the_caller_being_told(text: str, now: datetime, zone: str) -> None:
    """An answer is a future instant, or is_past says so; a past answer is today's clock time (clock_only, with
    tomorrow's offered), or a day the phrase itself named as past or today."""
    when = parse_when(text, now, zone)
    if when is None:
        return
    assert_sane(when, zone)
    assert is_past(when, now) == (when.at <= now)
    if when.clock_only:
        assert when.local.date() == now.astimezone(ZoneInfo(zone)).date()
        assert not is_past(same_time_tomorrow(when, zone), now - timedelta(days=1))


@pytest.mark.parametrize(
    ("text", "hour", "note"),
    [
        ("Mr Smith tomorrow 3pm call back", 15, "Mr Smith call back"),
        ("call John tomorrow at 3pm about the flat", 15, "call John about the flat"),
        ("Smith next friday 10am viewing", 10, "Smith viewing"),
    ],
)
def test_an_english_time_in_the_middle_of_a_note_is_found(text: str, hour: int, note: str) -> None:
    found = find_when(text, NOW, SHANGHAI)
    assert found is not None
    when, rest = found
    assert (when.local.hour, rest) == (hour, note)
    assert when.local.date() > NOW.astimezone(ZoneInfo(SHANGHAI)).date()


@pytest.mark.parametrize("text", ["Mr Sun called about the flat", "room 302 needs paint", "call May about it"])
def test_a_name_or_a_number_in_the_middle_of_a_note_is_no_time(text: str) -> None:
    assert find_when(text, NOW, SHANGHAI) is None


@pytest.mark.parametrize(
    ("text", "day", "note"),
    [
        ("昨天下午3点", 24, ""),  # past: returned as past, so the caller refuses it (never today 15:00)
        ("上周五下午3点 带看", 20, "带看"),
        ("王先生 昨天见过 明天下午3点再联系", 26, "王先生 昨天见过再联系"),  # what happened, then the plan
    ],
)
def test_a_past_day_is_read_whole_and_a_later_plan_wins(text: str, day: int, note: str) -> None:
    found = find_when(text, NOW, SHANGHAI)
    assert found is not None
    assert (found[0].local.month, found[0].local.day, found[1]) == (11, day, note)


def test_a_note_word_before_an_english_time_is_not_swallowed() -> None:
    """Found by hypothesis: "a tomorrow 3pm" was read as tomorrow 10:00 ("a tomorrow") with "3pm" as the note."""
    found = find_when("a tomorrow 3pm", NOW, SHANGHAI)
    assert found is not None
    assert found[0] == parse_when("tomorrow 3pm", NOW, SHANGHAI) and found[1] == "a"
