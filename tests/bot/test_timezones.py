"""Resolving typed time zones, and local-time math across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.timezones import local_datetime, next_occurrence, resolve_timezone, to_utc, utc_offset_label


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
