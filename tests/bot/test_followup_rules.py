"""The snooze choices, from the rule an agent reads on the buttons: "in an hour", "this evening (19:00)" while
it is still at least half an hour away, "tomorrow morning (09:00)" — every one in the agent's own zone, and
never a time already past. Agents are picked far from UTC (Shanghai, Los Angeles) so a local date and the UTC
date differ, plus a DST change and a month's last day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.followups import snooze_options
from bot.models import Agent

SHANGHAI = "Asia/Shanghai"
LOS_ANGELES = "America/Los_Angeles"
ZONES = [SHANGHAI, LOS_ANGELES, "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Pacific/Auckland", "UTC"]


def agent_in(zone: str) -> Agent:
    return Agent(timezone=zone, work_days="12345", followup_time=time(10, 0))


def at(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """The UTC instant of a wall-clock time in `zone`."""
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def wall(instant: datetime, zone: str) -> tuple[date, time]:
    local = instant.astimezone(ZoneInfo(zone))
    return local.date(), local.time()


@pytest.mark.parametrize(
    ("zone", "now", "tomorrow"),
    [
        # Thursday 06:30 in Shanghai is still Wednesday 22:30 in UTC: tomorrow is Friday, not Thursday.
        (SHANGHAI, at(SHANGHAI, 2026, 11, 26, 6, 30), date(2026, 11, 27)),
        # Wednesday 20:00 in Los Angeles is already Thursday 04:00 in UTC: tomorrow is Thursday, not Friday.
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 25, 20, 0), date(2026, 11, 26)),
        # A Sunday night; then the early morning of a month's last day (still the 29th in UTC).
        (SHANGHAI, at(SHANGHAI, 2026, 11, 29, 23, 50), date(2026, 11, 30)),
        (SHANGHAI, at(SHANGHAI, 2026, 11, 30, 7, 0), date(2026, 12, 1)),
        # The evening of a month's last day in Los Angeles (already the 1st in UTC).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 30, 18, 0), date(2026, 12, 1)),
        # The night before DST ends in Los Angeles (Sunday 2026-11-01 02:00 goes back to 01:00).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 10, 31, 21, 0), date(2026, 11, 1)),
    ],
)
def test_tomorrow_morning_is_nine_on_the_agents_own_tomorrow(zone: str, now: datetime, tomorrow: date) -> None:
    morning = snooze_options(agent_in(zone), now)["morning"]
    assert wall(morning, zone) == (tomorrow, time(9, 0))


def test_tomorrow_morning_across_the_dst_change_is_nine_by_the_new_clock() -> None:
    now = at(LOS_ANGELES, 2026, 10, 31, 21, 0)  # 21:00 PDT (UTC-7)
    assert snooze_options(agent_in(LOS_ANGELES), now)["morning"] == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)  # PST


def test_two_agents_at_the_same_instant_get_their_own_mornings() -> None:
    now = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # Thursday 06:30 in Shanghai, Wednesday 14:30 in Los Angeles
    shanghai = snooze_options(agent_in(SHANGHAI), now)
    los_angeles = snooze_options(agent_in(LOS_ANGELES), now)
    assert shanghai["morning"] == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # Friday 09:00 in Shanghai
    assert los_angeles["morning"] == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # Thursday 09:00 in Los Angeles
    assert los_angeles["evening"] == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # Wednesday 19:00 in Los Angeles
    assert shanghai["evening"] == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)  # Thursday 19:00 in Shanghai


@pytest.mark.parametrize("zone", [SHANGHAI, LOS_ANGELES])
def test_this_evening_is_offered_until_half_an_hour_before_seven(zone: str) -> None:
    agent = agent_in(zone)
    offered = snooze_options(agent, at(zone, 2026, 11, 25, 18, 20))
    assert offered["evening"] == at(zone, 2026, 11, 25, 19, 0)
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 18, 40))
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 19, 0))
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 25, 22, 0))


def test_this_evening_in_the_morning_is_the_same_days_seven() -> None:
    offered = snooze_options(agent_in(SHANGHAI), at(SHANGHAI, 2026, 11, 26, 6, 30))  # UTC is still Wednesday
    assert wall(offered["evening"], SHANGHAI) == (date(2026, 11, 26), time(19, 0))


def test_in_an_hour_is_sixty_minutes_of_real_time_even_across_a_dst_change() -> None:
    now = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT, half an hour before the clocks go back
    assert snooze_options(agent_in(LOS_ANGELES), now)["hour"] == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES))
def test_every_choice_is_later_than_now_and_where_the_agent_reads_it(now: datetime, zone: str) -> None:
    options = snooze_options(agent_in(zone), now)
    today, clock = wall(now, zone)
    assert all(moment > now for moment in options.values()), options
    assert options["hour"] == now + timedelta(hours=1)
    assert wall(options["morning"], zone) == (today + timedelta(days=1), time(9, 0))
    assert ("evening" in options) == (clock < time(18, 30))
    if "evening" in options:
        assert wall(options["evening"], zone) == (today, time(19, 0))
        assert options["evening"] - now >= timedelta(minutes=30)


# ---------------------------------------------------------------------------------------------- more rules


@pytest.mark.parametrize("zone", [SHANGHAI, LOS_ANGELES])
def test_this_evening_needs_more_than_half_an_hour_to_go(zone: str) -> None:
    """To the second: at 18:29:59 seven o'clock is still offered, at 18:30:00 no longer."""
    agent = agent_in(zone)
    assert snooze_options(agent, at(zone, 2026, 11, 30, 18, 29) + timedelta(seconds=59))["evening"] == at(
        zone, 2026, 11, 30, 19, 0
    )
    assert "evening" not in snooze_options(agent, at(zone, 2026, 11, 30, 18, 30))


@pytest.mark.parametrize(
    ("zone", "now", "expected"),
    [
        # Sunday night in Shanghai (already Sunday afternoon in UTC): the next day is Monday.
        (SHANGHAI, at(SHANGHAI, 2026, 11, 29, 23, 30), (date(2026, 11, 30), time(10, 0))),
        # A month's last day in Los Angeles, the evening (already 1 December in UTC).
        (LOS_ANGELES, at(LOS_ANGELES, 2026, 11, 30, 20, 0), (date(2026, 12, 1), time(10, 0))),
    ],
)
def test_a_stage_outside_the_cadence_table_is_followed_up_the_next_day(
    zone: str, now: datetime, expected: tuple[date, time]
) -> None:
    """A stage the table does not list (a row from another version, a stage renamed since) gets the shortest
    cadence, the next local day at the agent's follow-up hour, as a new lead would."""
    from bot.followups import CADENCE_DAYS, suggested_time

    assert "archived" not in CADENCE_DAYS
    assert wall(suggested_time(agent_in(zone), "archived", now), zone) == expected
    assert wall(suggested_time(agent_in(zone), "new", now), zone) == expected


async def test_an_id_out_of_the_columns_range_is_nobodys_follow_up(engine: AsyncEngine) -> None:
    """A forged id (0, negative, or too big for the integer column) finds nothing, on either database, rather
    than failing the query."""
    from bot.clients import MAX_ID
    from bot.db import session_factory
    from bot.followups import owned_follow_up

    async with session_factory(engine)() as session:
        for forged in (0, -1, MAX_ID, MAX_ID + 1, 2**63):
            assert await owned_follow_up(session, 1, forged) is None, forged
