"""Resolving typed time zones, and local-time math across DST changes."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.timezones import (
    local_datetime,
    local_day_bounds,
    local_today,
    next_occurrence,
    resolve_timezone,
    to_utc,
    utc_offset_label,
)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/hong_kong", "Asia/Hong_Kong"),
        ("Hong Kong", "Asia/Hong_Kong"),
        ("hongkong", "Asia/Hong_Kong"),
        ("深圳", "Asia/Shanghai"),
        ("廣州", "Asia/Shanghai"),
        ("香港", "Asia/Hong_Kong"),
        ("台北", "Asia/Taipei"),
        ("温哥华", "America/Vancouver"),
        ("Vancouver", "America/Vancouver"),
        ("London", "Europe/London"),
        ("悉尼", "Australia/Sydney"),
        ("UTC+8", "Etc/GMT-8"),
        ("gmt-5", "Etc/GMT+5"),
        ("UTC", "UTC"),
    ],
)
def test_resolves(text: str, zone: str) -> None:
    assert resolve_timezone(text) == zone


@pytest.mark.parametrize("text", ["", "火星", "Mars/Base", "UTC+15", "x" * 100, "/"])
def test_refuses(text: str) -> None:
    assert resolve_timezone(text) is None


def test_offset_label_follows_dst() -> None:
    assert utc_offset_label("America/New_York", datetime(2026, 7, 1, tzinfo=UTC)) == "UTC-04:00"
    assert utc_offset_label("America/New_York", datetime(2026, 12, 1, tzinfo=UTC)) == "UTC-05:00"
    assert utc_offset_label("Asia/Kolkata", datetime(2026, 12, 1, tzinfo=UTC)) == "UTC+05:30"


def test_same_wall_clock_time_on_both_sides_of_a_dst_change() -> None:
    before = to_utc(date(2026, 3, 28), time(9, 0), "Europe/Berlin")
    after = to_utc(date(2026, 3, 29), time(9, 0), "Europe/Berlin")
    assert (before.hour, after.hour) == (8, 7)
    assert local_datetime(after, "Europe/Berlin").hour == 9


def test_a_skipped_local_time_moves_past_the_gap() -> None:
    moment = to_utc(date(2026, 3, 29), time(2, 30), "Europe/Berlin")
    assert local_datetime(moment, "Europe/Berlin").time() == time(3, 30)


def test_a_repeated_local_time_is_its_first_occurrence() -> None:
    moment = to_utc(date(2026, 11, 1), time(1, 30), "America/New_York")
    assert moment == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT, before clocks fall back


ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata"]


@given(
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    st.sampled_from(ZONES),
    st.sets(st.integers(1, 7), min_size=1).map(lambda s: "".join(str(d) for d in sorted(s))),
)
def test_next_occurrence_is_the_next_matching_local_time(after: datetime, at: time, zone: str, days: str) -> None:
    moment = next_occurrence(after, at, zone, days)
    local = local_datetime(moment, zone)
    assert moment > after
    assert str(local.isoweekday()) in days
    # The wall-clock time is kept, except where DST skipped it (then it lands just after the gap).
    assert local.time() == at or to_utc(local.date(), at, zone) == moment
    # Nothing earlier qualifies: the previous matching day is not after `after`.
    earlier_day = local.date() - timedelta(days=1)
    while str(earlier_day.isoweekday()) not in days:
        earlier_day -= timedelta(days=1)
    assert to_utc(earlier_day, at, zone) <= after or to_utc(local.date(), at, zone) == moment


def test_daily_occurrences_keep_local_time_across_dst() -> None:
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    first = next_occurrence(after, time(9, 0), "Europe/Berlin")
    second = next_occurrence(first, time(9, 0), "Europe/Berlin")
    third = next_occurrence(second, time(9, 0), "Europe/Berlin")
    assert [local_datetime(m, "Europe/Berlin").hour for m in (first, second, third)] == [9, 9, 9]
    assert [m.hour for m in (first, second, third)] == [8, 7, 7]  # UTC moves, the agent's clock does not


def test_the_city_index_is_built_once_in_a_child_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.timezones import city_index

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = city_index()
    assert path.parent == tmp_path / "agentcoach" and path.stat().st_size > 1_000_000
    assert resolve_timezone("溫哥華") == resolve_timezone("温哥华") == "America/Vancouver"
    assert city_index() == path


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Etc/GMT-8", "Etc/GMT-8"),  # an IANA name is taken as typed, even one the folded index leaves out
        ("GMT", "UTC"),
        ("z", "UTC"),
        ("UTC+0", "UTC"),
        ("gmt-0", "UTC"),
        ("UTC+1", "Etc/GMT-1"),
        ("UTC+14", "Etc/GMT-14"),  # Kiribati, the easternmost offset
        ("UTC-12", "Etc/GMT+12"),
    ],
)
def test_resolves_utc_and_its_offsets(text: str, zone: str) -> None:
    assert resolve_timezone(text) == zone


def test_over_64_characters_is_refused_even_when_it_would_fold_to_a_zone() -> None:
    assert resolve_timezone("Hong" + " " * 56 + "Kong") == "Asia/Hong_Kong"  # 64 characters
    assert resolve_timezone("Hong" + " " * 57 + "Kong") is None


def test_a_schedule_needs_at_least_one_day() -> None:
    with pytest.raises(ValueError, match="no days"):
        next_occurrence(datetime(2026, 11, 25, 1, 0, tzinfo=UTC), time(9, 0), "Asia/Shanghai", "")


def test_today_on_a_months_last_day_depends_on_the_side_of_utc() -> None:
    moment = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert local_today(moment, "Asia/Shanghai") == date(2026, 12, 1)
    assert local_today(moment, "Australia/Sydney") == date(2026, 12, 1)
    assert local_today(moment, "America/New_York") == date(2026, 11, 30)
    assert local_today(moment, "America/Los_Angeles") == date(2026, 11, 30)
    assert local_today(datetime(2027, 2, 28, 15, 30, tzinfo=UTC), "Asia/Tokyo") == date(2027, 3, 1)


def test_new_years_eve_east_and_west_of_utc() -> None:
    # 23:30 UTC on 31 December is already 10:30 on 1 January in Sydney: today's 09:00 has passed there.
    assert next_occurrence(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), time(9, 0), "Australia/Sydney") == datetime(
        2027, 1, 1, 22, 0, tzinfo=UTC
    )
    # 18:00 UTC is 10:00 on 31 December in Los Angeles: the next 09:00 is New Year's Day.
    assert next_occurrence(datetime(2026, 12, 31, 18, 0, tzinfo=UTC), time(9, 0), "America/Los_Angeles") == datetime(
        2027, 1, 1, 17, 0, tzinfo=UTC
    )
    # Weekdays only, Friday 1 January 2027 in the evening in Shanghai: Monday 4 January.
    assert next_occurrence(datetime(2027, 1, 1, 12, 0, tzinfo=UTC), time(9, 0), "Asia/Shanghai", "12345") == datetime(
        2027, 1, 4, 1, 0, tzinfo=UTC
    )


def test_the_occurrence_itself_is_not_next() -> None:
    slot = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Wednesday 09:00 in Shanghai
    assert next_occurrence(slot - timedelta(microseconds=1), time(9, 0), "Asia/Shanghai") == slot
    assert next_occurrence(slot, time(9, 0), "Asia/Shanghai") == slot + timedelta(days=1)
    assert next_occurrence(slot, time(9, 0), "Asia/Shanghai", "3") == slot + timedelta(days=7)


def test_work_days_across_dst_changes_east_and_west() -> None:
    # New York falls back on Sunday 1 November 2026: Friday 08:30 EDT, then Monday 08:30 EST.
    friday = next_occurrence(datetime(2026, 10, 30, 0, 0, tzinfo=UTC), time(8, 30), "America/New_York", "12345")
    monday = next_occurrence(friday, time(8, 30), "America/New_York", "12345")
    assert (friday, monday) == (datetime(2026, 10, 30, 12, 30, tzinfo=UTC), datetime(2026, 11, 2, 13, 30, tzinfo=UTC))
    # Sydney springs forward on Sunday 4 October 2026: 09:00 AEST on Saturday, 09:00 AEDT on Sunday.
    saturday = next_occurrence(datetime(2026, 10, 2, 12, 0, tzinfo=UTC), time(9, 0), "Australia/Sydney", "67")
    sunday = next_occurrence(saturday, time(9, 0), "Australia/Sydney", "67")
    assert (saturday, sunday) == (datetime(2026, 10, 2, 23, 0, tzinfo=UTC), datetime(2026, 10, 3, 22, 0, tzinfo=UTC))


def test_a_failed_city_index_build_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.timezones import city_index

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(sys, "executable", "false")  # the child exits with 1 and writes nothing
    with pytest.raises(subprocess.CalledProcessError):
        city_index()


@pytest.mark.parametrize(
    ("day", "zone", "hours"),
    [
        (date(2026, 11, 30), "Asia/Shanghai", 24),  # a month's last day, no DST
        (date(2026, 3, 8), "America/New_York", 23),  # spring forward
        (date(2026, 11, 1), "America/New_York", 25),  # fall back
        (date(2026, 10, 4), "Australia/Sydney", 23),  # spring forward south of the equator
    ],
)
def test_a_local_day_runs_from_its_midnight_to_the_next(day: date, zone: str, hours: int) -> None:
    start, end = local_day_bounds(day, zone)
    assert end - start == timedelta(hours=hours)
    assert local_datetime(start, zone).replace(tzinfo=None) == datetime.combine(day, time(0))
    assert local_datetime(end, zone).replace(tzinfo=None) == datetime.combine(day + timedelta(days=1), time(0))
    assert local_today(start, zone) == day and local_today(end - timedelta(microseconds=1), zone) == day
